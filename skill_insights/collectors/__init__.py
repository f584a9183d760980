"""Collectors: files on this machine → store rows (transcripts, skills, git, Tessl). They never render."""
