"""The TopoGAN paper's data: five real on-disk formats (CREMI HDF5, ISBI 2012 TIFF stacks, pix2pix Google Maps
JPEG pairs, CMP Facade label PNGs, retina vessel masks), the SynthMembranes generator (writes the ISBI 2012 format),
and preprocess (mask patches + their persistence diagrams + the validation suite). Everything here is a dependency of
the fetch and preprocess stages (see dvc.yaml).

Polarity everywhere on disk and in the processed arrays: **structure = 0 (black), background = 255** (spec §5);
in memory a *structure mask* is bool with True = structure (the `reprozoo.topology` convention).
"""
