"""Datasets: adapters per storage format, fusion into one taxonomy, near-duplicate search, caching."""

from ferkit.data.cache import load_source
from ferkit.data.dedupe import find_duplicates, leak_mask
from ferkit.data.sample import Sample, SourceData, Split
from ferkit.data.sources import ADAPTERS, read_source

__all__ = ["ADAPTERS", "Sample", "SourceData", "Split", "find_duplicates", "leak_mask", "load_source", "read_source"]
