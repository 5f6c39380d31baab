"""Import stage: official data layouts (ODS, ONS, NHS BSA) → normalised tables for the graph."""
