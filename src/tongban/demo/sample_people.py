"""Sample insured people (参保人) of a home region, with valid resident ID numbers.

ID numbers are made with ``make_id_number``: a county code of the city, a birth date between
1940 and 2005, a 3-digit sequence (odd for men, even for women) and the MOD 11-2 check
character. About 65% are employees (职工, insutype 310) with a personal-account balance of
0-8,000 yuan; the rest are residents (城乡居民, 390), who have no personal account.
Everything follows from (region code, seed) through a string-seeded ``random.Random``.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import date
from itertools import accumulate

from tongban.domain.identifiers import make_id_number, parse_region_code
from tongban.domain.money import Fen
from tongban.domain.policy import InsuType


@dataclass(frozen=True)
class SamplePerson:
    id_number: str
    name: str
    insutype: str
    account_balance: Fen  # 个人账户余额; 0 for residents


EMPLOYEE_SHARE_PERCENT = 65
MAX_BALANCE: Fen = 800_000  # 8,000 yuan

# Common surnames with rough relative frequencies (王李张刘陈 lead, the tail is flatter).
_SURNAMES = (
    ("王", 72), ("李", 70), ("张", 66), ("刘", 54), ("陈", 52), ("杨", 36), ("黄", 26),
    ("赵", 22), ("吴", 21), ("周", 20), ("徐", 18), ("孙", 16), ("马", 15), ("朱", 14),
    ("胡", 13), ("郭", 12), ("何", 12), ("高", 11), ("林", 11), ("罗", 10), ("郑", 10),
    ("梁", 9), ("谢", 8), ("宋", 8), ("唐", 8), ("许", 7), ("韩", 7), ("冯", 7), ("邓", 7),
    ("曹", 6), ("彭", 6), ("曾", 6), ("肖", 6), ("田", 5), ("董", 5), ("袁", 5), ("潘", 5),
    ("于", 5), ("蒋", 5), ("蔡", 5), ("余", 4), ("杜", 4), ("叶", 4), ("程", 4), ("苏", 4),
    ("魏", 4), ("吕", 4), ("丁", 4), ("任", 4), ("沈", 4), ("姚", 3), ("卢", 3), ("姜", 3),
    ("崔", 3), ("钟", 3), ("谭", 3), ("陆", 3), ("汪", 3), ("范", 3), ("金", 3), ("石", 3),
    ("戴", 2), ("贾", 2), ("韦", 2), ("夏", 2), ("邱", 2), ("方", 2), ("侯", 2), ("邹", 2),
    ("熊", 2), ("孟", 2), ("秦", 2), ("白", 2), ("江", 2), ("阎", 2), ("薛", 2), ("尹", 2),
    ("段", 1), ("雷", 1), ("黎", 1), ("史", 1), ("龙", 1), ("陶", 1), ("贺", 1), ("顾", 1),
    ("毛", 1), ("郝", 1), ("龚", 1), ("邵", 1), ("万", 1), ("钱", 1), ("严", 1), ("欧阳", 1),
    ("诸葛", 1), ("司马", 1),
)  # fmt: skip
_SURNAME_NAMES = tuple(s for s, _ in _SURNAMES)
_SURNAME_CUM = tuple(accumulate(w for _, w in _SURNAMES))

_MALE_CHARS = (
    "伟刚勇毅俊峰强军平保东文辉力明永健世广志义兴良海山仁波宁贵福生龙元全国胜学祥才发"
    "武新利清飞彬富顺信子杰涛昌成康星光天达安岩中茂进林有坚和彪博诚先敬震振壮会思群豪"
    "心邦承乐绍功松善厚庆磊民友裕河哲江超浩亮政谦亨奇固之轮翰朗伯宏言若鸣朋斌梁栋维启"
    "克伦翔旭鹏泽晨辰士以建家致树炎德行时泰盛雄琛钧冠策腾楠榕风航弘"
)
_FEMALE_CHARS = (
    "秀娟英华慧巧美娜静淑惠珠翠雅芝玉萍红娥玲芬芳燕彩春菊兰凤洁梅琳素云莲真环雪荣爱妹"
    "霞香月莺媛艳瑞凡佳嘉琼勤珍贞莉桂娣叶璧璐娅琦晶妍茜秋珊莎锦黛青倩婷姣婉娴瑾颖露瑶"
    "怡婵雁蓓纨仪荷丹蓉眉君琴蕊薇菁梦岚苑婕馨瑗琰韵融园艺咏卿聪澜纯毓悦昭冰爽琬茗羽希"
    "宁欣飘育滢馥筠柔竹霭凝晓欢霄枫芸菲寒伊亚宜可姬舒影荔枝思丽"
)

_BORN_FROM = date(1940, 1, 1).toordinal()
_BORN_TO = date(2005, 12, 31).toordinal()


def county_codes(region_code: str) -> tuple[str, ...]:
    """6-digit county codes used for ID numbers of this city (a sample of its districts)."""
    if region_code == "310000":  # 上海: districts are 3101xx
        return tuple("3101" + d for d in ("01", "04", "05", "06", "07", "09", "10", "12", "15"))
    return tuple(region_code[:4] + d for d in ("02", "03", "04", "05", "81"))


def _name(rng: random.Random, female: bool) -> str:
    surname = rng.choices(_SURNAME_NAMES, cum_weights=_SURNAME_CUM)[0]
    chars = _FEMALE_CHARS if female else _MALE_CHARS
    given = chars[int(rng.random() * len(chars))]
    if rng.random() >= 0.35:  # about a third of given names are a single character
        given += chars[int(rng.random() * len(chars))]
    return surname + given


def sample_people(region_code: str, count: int, seed: int) -> tuple[SamplePerson, ...]:
    """``count`` people insured in ``region_code``, unique by ID number, deterministic."""
    region = parse_region_code(region_code)
    if count < 0:
        raise ValueError("count must be >= 0")
    rng = random.Random(f"sample-people|{region}|{seed}")  # str seeds are hashed with SHA-512
    areas = county_codes(region)
    seen: set[str] = set()
    people: list[SamplePerson] = []
    # Indices come from rng.random() rather than randint(): same determinism, a third faster.
    span, random_ = _BORN_TO - _BORN_FROM + 1, rng.random
    while len(people) < count:
        born = date.fromordinal(_BORN_FROM + int(random_() * span))
        sequence = int(random_() * 1000)
        id_number = make_id_number(areas[int(random_() * len(areas))], born, sequence)
        if id_number in seen:
            continue
        seen.add(id_number)
        name = _name(rng, female=sequence % 2 == 0)
        if random_() * 100 < EMPLOYEE_SHARE_PERCENT:
            # Some accounts are empty; the others lean towards small balances (min of two draws).
            balance = (
                0
                if random_() < 0.12
                else min(rng.randint(0, MAX_BALANCE), rng.randint(0, MAX_BALANCE))
            )
            people.append(SamplePerson(id_number, name, InsuType.EMPLOYEE.value, balance))
        else:
            people.append(SamplePerson(id_number, name, InsuType.RESIDENT.value, 0))
    return tuple(people)
