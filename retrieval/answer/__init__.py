"""Reading and answering: the trained reader that scores candidate answer sentences."""
