"""Training data: the JSONL manifest format and builders from real dataset formats (COCO, YouTube-VIS)."""
