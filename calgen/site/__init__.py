"""Layer 4: everything about an out folder: outputs, the one reader of a published folder,
the one writer (publish), `calgen build` and `calgen serve`."""
