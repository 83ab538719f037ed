"""restora: image restoration toolkit.

Layers (see README "Architecture"): ``io`` -> ``degrade`` / ``metrics`` -> ``classical`` /
``nn`` + ``engine`` + ``train`` + ``zoo`` -> ``pipeline`` -> entry points (``cli``, web, Ray).

Images in the API are float32, channels-last ``H x W x C`` numpy arrays in [0, 1].
"""

from restora.errors import RestoraError

__version__ = "0.1.0"

__all__ = ["RestoraError", "__version__"]
