"""The publication: tables, figures, captions and sentences made from stored rows, and the book, the
README and the browser check that present them."""
