"""The national-interface adapter (国家医保平台接口): hospital systems' numbered transactions
(1101, 2201-2208, 2301-2305, 2401-2402, 2601, 3201, 3202) carried out by tongban's services.

Pure wire rules are in ``domain/national.py`` and ``domain/national_fields.py``; this package
drives the visit side with them and keeps what the interface itself needs (``ports``).
"""

from tongban.service_layer.national.interface import NationalInterface

__all__ = ["NationalInterface"]
