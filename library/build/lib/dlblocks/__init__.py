"""dlblocks: the code of the book "Deep-learning building blocks", for its readers.

``dlblocks.data`` loads MNIST as NumPy arrays (``from dlblocks.data import load_mnist``). One module
per framework holds what the book's chapters define and later chapters use again:
``dlblocks.mxnet``, ``dlblocks.torch``, ``dlblocks.tensorflow``, ``dlblocks.mindspore`` (``from
dlblocks.torch import MyLinear, try_gpu``). Importing ``dlblocks`` imports no framework: each
module imports only its own.
"""
