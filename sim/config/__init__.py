"""Parameters: the validated dataclasses of scenarios and input files, vocabularies, the version."""
