"""Analysis phases over the skills inventory: staleness, quality, duplicates, registry search."""
