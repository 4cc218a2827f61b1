# tools/: embersnap and the benchmark driver.
