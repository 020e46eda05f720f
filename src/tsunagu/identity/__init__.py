"""Identity and eligibility domain: insurance numbers, Japanese name matching, disaster areas.

Pure: no I/O here.
"""
