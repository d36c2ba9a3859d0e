// foldvm-bench overcommit-run (being written)
