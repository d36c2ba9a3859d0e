// foldvm-bench overcommit (being written)
