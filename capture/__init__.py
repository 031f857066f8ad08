"""fraudwatch capture: turns bytes (CDR files, pcaps, HEP frames, live packets) into records."""
