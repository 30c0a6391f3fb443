"""Notebook widgets. Importing atlas_nb does not import ipywidgets; these modules do, lazily."""
