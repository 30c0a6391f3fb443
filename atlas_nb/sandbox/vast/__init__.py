"""The fake Vast.ai API and its offer market."""
