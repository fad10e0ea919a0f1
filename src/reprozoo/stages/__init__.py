"""The pipeline's stages as plain functions (fetch, preprocess, train, evaluate, register, verify, report); the CLI and
DVC are thin shells over them. They never import a paper directly: papers are looked up through
`reprozoo.papers.get_paper`."""
