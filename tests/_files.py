"""File-tree helpers shared by tests."""
import hashlib
import os


def tree_digest(directory):
    """{relative path: sha256} of every file under `directory`."""
    digest = {}
    for root, _, names in os.walk(directory):
        for name in names:
            path = os.path.join(root, name)
            with open(path, "rb") as handle:
                digest[os.path.relpath(path, directory)] = hashlib.sha256(handle.read()).hexdigest()
    return digest
