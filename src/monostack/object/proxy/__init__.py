"""The Swift API proxy: controllers for accounts, containers and objects in front of the storage servers."""
