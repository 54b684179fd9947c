"""Study runners: each reruns one whole study with one command and writes a report."""
