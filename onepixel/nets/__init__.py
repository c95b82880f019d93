"""The networks and their data: CIFAR-10 and ImageNet loading, architectures, trained weights and
training."""
