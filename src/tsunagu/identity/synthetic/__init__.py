"""A synthetic Japanese population for tests, demos and benchmarks (`tsunagu seed`).

Every name, number and record is invented; the distributions (surnames, given names by birth
cohort, the age pyramid, prefecture populations) follow public statistics approximately, and
places, postal codes, disease codes (傷病名マスター), drug codes (YJ) and lab codes (JLAC10) are
real. Deterministic: the same seed gives the same population, person by person.
"""
