"""Design the next trial from what was learned: classical MDES and power, and assurance."""
