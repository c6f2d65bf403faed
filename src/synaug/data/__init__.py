"""Datasets: the ImageSet type, readers for real formats, long-tail construction, embedded data."""

from synaug.data.datasets import DATASETS, load_dataset  # noqa: F401
from synaug.data import embedded  # noqa: F401,E402  (registers mnist-lt, fashion-lt, cifar*-lt, imagefolder, csv)
from synaug.data.imageset import DatasetSplits, ImageSet, LazyImages  # noqa: F401
from synaug.data.longtail import longtail_counts, longtail_indices  # noqa: F401
from synaug.data import embedded_groups  # noqa: F401,E402  (registers mnist-fair, fashion-spurious)
from synaug.data import group_readers  # noqa: F401,E402  (registers utkface, waterbirds, celeba)
from synaug.data import listfile  # noqa: F401,E402  (registers imagenet-lt, imagenet100-lt list files)
