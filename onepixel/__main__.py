from onepixel.cli import main


main()
