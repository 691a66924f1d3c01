"""Ways to run the pipeline over many items: in-process, a local process pool."""
