"""Layer 1, below everything: errors, files, time and working days, reminder leads, Dutch
wording, the site layout and the per-user cache. Imports nothing else of calgen."""
