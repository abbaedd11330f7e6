"""A checkpoint's whole life.

- :mod:`.loading`: read a file safely (``torch.load(weights_only=True)``)
  and load its weights into a model;
- :mod:`.fitting`: whether a state dict fits a model, and what differs;
- :mod:`.saving`: every rank's random state, only finite states, written
  atomically;
- :mod:`.last_checkpoint`: the last complete checkpoint, named in
  ``<work_dir>/last_checkpoint``;
- :mod:`.resume`: what a resumed run restores besides mmengine's state;
- :mod:`.publishing`: the weights and meta alone, under a hashed name.

Nothing is imported here: :mod:`.loading` stays free of the Runner.
"""
