"""Part segmentation: the built-in spectral segmenter."""
