"""Floating members (流动党员): certificates, host participation, no vote at the host."""
