"""The pose paper's data: the UAVA on-disk layout, the ToyDrone generator that writes it, and preprocess (manifest +
validation suite). Everything here is a dependency of the fetch and preprocess stages (see dvc.yaml)."""
