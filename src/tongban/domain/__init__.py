"""Pure domain rules of tongban: no I/O, no clock, no database.

- ``money``: fen, ``Decimal`` ratios and the one rounding rule (half-up to the fen).
- ``identifiers``: resident ID numbers, region and institution codes.
- ``regions``: the 41 Yangtze River Delta cities (长三角).
- ``catalogue``: visit side, classifying bill lines by the visit region's catalogue (就医地目录).
- ``policy``: home side, applying the home region's policy (参保地政策) to get the split.
- ``filing``: which filing (备案) covers a visit, and its category.
- ``case``: the offline case format of ``tongban calc`` (DESIGN.md §4.3).
"""
