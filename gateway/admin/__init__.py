"""The OneAPI-compatible admin API, served on a local Unix socket."""
