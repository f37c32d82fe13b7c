"""The EHR side of the clinic: FHIR R4 mapping and bundles, SMART Backend Services, CDS Hooks 2.0.1.

May import only `mindbridge.summary` (the types that cross the device/clinic boundary) and third-party
packages: raw sensor data cannot reach this package by construction.
"""
