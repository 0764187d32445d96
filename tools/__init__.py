"""Developer tools run from the repository root (``python -m tools.<name>``): shipped to no Lambda, imported by no
package."""
