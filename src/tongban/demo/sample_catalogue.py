"""Sample national and regional catalogues (医保目录) for the demo.

About 300 items in the shape of the national codes: drugs are 23 characters (`X` western
medicine, `Z` Chinese patent medicine: prefix, 5-character class, 4-character drug, 4-character
dosage form, 9-character spec/pack/maker), medical services are 15 digits. Coverage classes,
self-pay ratios and price caps are SAMPLE values: plausible, not any region's published list.

Typical unit prices (fen) for the simulated day are in ``TYPICAL_PRICE`` (code → fen) and
``typical_unit_price``; ``item_kind`` tells a bill generator what an item is (bed, lab, drug...).
Everything is derived from fixed tables and SHA-256 of fixed strings, so it is deterministic
across runs and machines (never Python's salted ``hash()``).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Mapping
from decimal import Decimal
from enum import StrEnum
from functools import cache
from types import MappingProxyType

from tongban.domain.catalogue import CatalogueItem, CoverageClass
from tongban.domain.identifiers import parse_region_code
from tongban.domain.money import Fen

A, B, C = CoverageClass.A, CoverageClass.B, CoverageClass.C


class ItemKind(StrEnum):
    """What an item is, so that a simulated bill looks like a real one."""

    OUTPATIENT_CONSULT = "outpatient_consult"  # 门诊/急诊诊查费
    INPATIENT_CONSULT = "inpatient_consult"  # 住院诊查费
    BED = "bed"  # 床位费
    NURSING = "nursing"  # 护理费
    EXAM = "exam"  # 检查: imaging, ultrasound, ECG, endoscopy
    LAB = "lab"  # 化验
    TREATMENT = "treatment"  # 治疗
    SURGERY = "surgery"  # 手术, 麻醉
    DRUG = "drug"  # 西药, not injected
    INJECTION = "injection"  # 注射剂 (western or Chinese)
    TCM = "tcm"  # 中成药, not injected


def _stable(*parts: str) -> int:
    """A deterministic non-negative integer from strings (SHA-256, not the salted hash())."""
    digest = hashlib.sha256("|".join(parts).encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big")


# The golden items of the calculator's worked cases (shared/golden): identical in every region.
_GOLDEN: tuple[tuple[CatalogueItem, ItemKind, Fen], ...] = (
    (CatalogueItem("001102000010000", "普通门诊诊查费", A), ItemKind.OUTPATIENT_CONSULT, 2500),
    (
        CatalogueItem("XA01ABD075A002010100483", "地喹氯铵含片", B, Decimal("0.10"), 1200),
        ItemKind.DRUG,
        1230,
    ),
    (CatalogueItem("ZC01AAA0001000000000001", "示例丙类中成药", C), ItemKind.TCM, 5800),
    (
        CatalogueItem("XN02BEA005A001010101234", "示例乙类药", B, Decimal("0.05")),
        ItemKind.DRUG,
        4521,
    ),
    (CatalogueItem("003101000010000", "床位费(三级)", A, price_cap=4000), ItemKind.BED, 4500),
    (
        CatalogueItem("XJ01DCA001B002010100001", "示例乙类注射剂", B, Decimal("0.15"), 8850),
        ItemKind.INJECTION,
        8850,
    ),
)
GOLDEN_CODES: frozenset[str] = frozenset(item.code for item, _, _ in _GOLDEN)

# Medical services: (6-digit group, name, class, typical fen). Code = group + 5-digit
# sequence within the group + "0000" (15 digits), e.g. 001102 00001 0000; the group tells the kind.
_SERVICE_KIND: Mapping[str, ItemKind] = {
    "001102": ItemKind.OUTPATIENT_CONSULT, "001104": ItemKind.OUTPATIENT_CONSULT,
    "001103": ItemKind.INPATIENT_CONSULT, "003101": ItemKind.BED, "003102": ItemKind.NURSING,
    "0021": ItemKind.EXAM, "0022": ItemKind.EXAM, "0023": ItemKind.EXAM, "0025": ItemKind.LAB,
    "0033": ItemKind.TREATMENT, "0034": ItemKind.SURGERY,
}  # fmt: skip
_SERVICES: tuple[tuple[str, str, CoverageClass, Fen], ...] = (
    ("001102", "副主任医师门诊诊查费", A, 4000), ("001102", "主任医师门诊诊查费", A, 6000),
    ("001102", "全科医生门诊诊查费", A, 2000), ("001102", "中医辨证论治门诊诊查费", A, 3000),
    ("001102", "互联网复诊诊查费", B, 2000), ("001102", "特需门诊诊查费", C, 30000),
    ("001104", "急诊诊查费", A, 2500), ("001103", "住院诊查费", A, 2000),
    ("003101", "床位费(二级)", A, 3500), ("003101", "床位费(一级)", A, 2500),
    ("003101", "监护病房床位费", A, 12000), ("003101", "层流洁净病房床位费", B, 20000),
    ("003101", "急诊观察床位费", A, 2000), ("003101", "特需病房床位费", C, 60000),
    ("003102", "特级护理", A, 20000), ("003102", "一级护理", A, 2800),
    ("003102", "二级护理", A, 1800), ("003102", "三级护理", A, 1000),
    ("002101", "DR胸部正位片", A, 8000), ("002101", "DR腰椎正侧位片", A, 12000),
    ("002101", "乳腺钼靶摄影", B, 15000), ("002102", "CT平扫", B, 30000),
    ("002102", "CT增强扫描", B, 45000), ("002102", "胸部低剂量CT", C, 25000),
    ("002103", "磁共振平扫", B, 60000), ("002103", "磁共振增强扫描", B, 90000),
    ("002201", "彩色多普勒超声(腹部)", A, 16000), ("002201", "心脏彩色多普勒超声", B, 25000),
    ("002201", "甲状腺彩色多普勒超声", A, 12000), ("002201", "妇科B超", A, 10000),
    ("002301", "常规心电图", A, 2500), ("002301", "动态心电图", B, 18000),
    ("002301", "脑电图", A, 8000), ("002301", "肺功能检查", B, 12000),
    ("002301", "骨密度测定", C, 10000), ("002302", "电子胃镜检查", B, 30000),
    ("002302", "电子结肠镜检查", B, 40000), ("002302", "无痛胃肠镜麻醉", C, 60000),
    ("002501", "血常规检查", A, 2000), ("002501", "凝血四项", B, 8000),
    ("002502", "尿常规检查", A, 1200), ("002502", "粪便常规检查", A, 1000),
    ("002502", "尿微量白蛋白测定", B, 3000), ("002503", "肝功能检查", A, 6000),
    ("002503", "肾功能检查", A, 4000), ("002503", "血脂四项", A, 5000),
    ("002503", "空腹血糖测定", A, 800), ("002503", "糖化血红蛋白测定", B, 6000),
    ("002503", "电解质测定", A, 4000), ("002503", "心肌酶谱", A, 6000),
    ("002503", "微量元素测定", C, 5000), ("002504", "C反应蛋白测定", A, 3000),
    ("002504", "甲状腺功能五项", B, 12000), ("002504", "乙肝两对半定量", A, 8000),
    ("002504", "癌胚抗原测定", B, 4000), ("002504", "甲胎蛋白测定", B, 4000),
    ("002504", "前列腺特异性抗原测定", B, 5000), ("002504", "肌钙蛋白测定", A, 8000),
    ("002504", "降钙素原测定", B, 12000), ("002504", "维生素D测定", C, 12000),
    ("002504", "过敏原检测", C, 30000), ("002505", "幽门螺杆菌呼气试验", B, 15000),
    ("002505", "病原体核酸检测", B, 4000), ("002505", "细菌培养及鉴定", A, 6000),
    ("003301", "静脉输液", A, 1000), ("003301", "静脉注射", A, 500), ("003301", "肌肉注射", A, 400),
    ("003301", "雾化吸入", A, 1200), ("003301", "小换药", A, 1500), ("003301", "吸氧", A, 300),
    ("003301", "导尿", A, 2000), ("003301", "清创缝合", A, 8000), ("003302", "针刺", B, 3000),
    ("003302", "推拿治疗", B, 5000), ("003302", "中药熏蒸", C, 8000),
    ("003303", "中频脉冲电治疗", B, 2000), ("003303", "运动疗法", B, 5000),
    ("003303", "心理咨询", C, 20000), ("003304", "血液透析", A, 45000),
    ("003305", "牙周洁治", C, 15000),
    ("003401", "全身麻醉", A, 80000), ("003401", "椎管内麻醉", A, 40000),
    ("003402", "阑尾切除术", A, 150000), ("003402", "腹腔镜胆囊切除术", B, 300000),
    ("003402", "白内障超声乳化摘除术", B, 250000), ("003402", "剖宫产术", A, 180000),
    ("003402", "经皮冠状动脉支架置入术", B, 500000), ("003402", "人工全髋关节置换术", B, 450000),
    ("003402", "甲状腺次全切除术", A, 200000), ("003402", "腹股沟疝修补术", A, 120000),
    ("003402", "体表肿物切除术", A, 30000), ("003402", "重睑成形术", C, 80000),
)  # fmt: skip

# 4-character dosage-form segment of a drug code; forms B0xx are injections.
_FORMS: Mapping[str, str] = {
    "片": "A001", "含片": "A002", "缓释片": "A003", "肠溶片": "A004", "分散片": "A005",
    "控释片": "A006", "咀嚼片": "A007", "泡腾片": "A008",
    "注射液": "B001", "注射用": "B002",
    "胶囊": "C001", "缓释胶囊": "C002", "软胶囊": "C003", "肠溶胶囊": "C004",
    "颗粒": "D001", "散": "D002", "干混悬剂": "D003",
    "口服液": "E001", "糖浆": "E002", "口服溶液": "E003", "混悬液": "E004", "膏": "E005",
    "软膏": "F001", "乳膏": "F002", "贴膏": "F003", "凝胶": "F004",
    "滴眼液": "G001", "眼膏": "G002",
    "气雾剂": "H001", "吸入粉雾剂": "H002", "鼻喷雾剂": "H003",
    "丸": "J001", "滴丸": "J002",
}  # fmt: skip

# Western drugs: (ingredient, ATC-like class, coverage, ((form, spec, typical fen), ...)).
_DrugForms = tuple[tuple[str, str, Fen], ...]
_WESTERN: tuple[tuple[str, str, CoverageClass, _DrugForms], ...] = (
    ("阿莫西林", "J01CA", A, (("胶囊", "0.25g×24粒", 850), ("颗粒", "0.125g×12袋", 1260))),
    ("阿莫西林克拉维酸钾", "J01CR", B, (("片", "0.457g×12片", 2890),
                                       ("干混悬剂", "0.2285g×6袋", 2150))),
    ("头孢克肟", "J01DD", B, (("片", "0.1g×6片", 2480), ("颗粒", "50mg×6袋", 1960))),
    ("头孢呋辛酯", "J01DC", B, (("片", "0.25g×12片", 2350),)),
    ("头孢曲松钠", "J01DD", A, (("注射用", "1.0g", 620),)),
    ("头孢哌酮钠舒巴坦钠", "J01DD", B, (("注射用", "1.5g", 3680),)),
    ("哌拉西林钠他唑巴坦钠", "J01CR", B, (("注射用", "4.5g", 4960),)),
    ("美罗培南", "J01DH", B, (("注射用", "0.5g", 8860),)),
    ("万古霉素", "J01XA", B, (("注射用", "0.5g", 11800),)),
    ("左氧氟沙星", "J01MA", B, (("片", "0.5g×4片", 1580), ("注射液", "0.5g:100ml", 1850),
                               ("滴眼液", "0.5%:5ml", 1850))),
    ("莫西沙星", "J01MA", B, (("片", "0.4g×3片", 4260),)),
    ("阿奇霉素", "J01FA", B, (("片", "0.25g×6片", 1650), ("干混悬剂", "0.1g×6袋", 1890),
                             ("注射用", "0.5g", 1380))),
    ("罗红霉素", "J01FA", A, (("胶囊", "150mg×12粒", 1120),)),
    ("甲硝唑", "J01XD", A, (("片", "0.2g×21片", 350),)),
    ("呋喃妥因", "J01XE", B, (("肠溶片", "50mg×100片", 1890),)),
    ("奥司他韦", "J05AH", B, (("胶囊", "75mg×10粒", 5390), ("颗粒", "15mg×10袋", 3780))),
    ("阿昔洛韦", "J05AB", A, (("片", "0.1g×24片", 720), ("乳膏", "3%:10g", 580))),
    ("伐昔洛韦", "J05AB", B, (("片", "0.3g×6片", 2860),)),
    ("氟康唑", "J02AC", A, (("胶囊", "50mg×6粒", 1260),)),
    ("二甲双胍", "A10BA", A, (("片", "0.25g×48片", 620), ("缓释片", "0.5g×30片", 1850))),
    ("格列美脲", "A10BB", A, (("片", "2mg×30片", 2180),)),
    ("阿卡波糖", "A10BF", A, (("片", "50mg×30片", 4380),)),
    ("西格列汀", "A10BH", B, (("片", "100mg×7片", 5620),)),
    ("达格列净", "A10BK", B, (("片", "10mg×14片", 6520),)),
    ("恩格列净", "A10BK", B, (("片", "10mg×10片", 5380),)),
    ("利拉鲁肽", "A10BJ", B, (("注射液", "3ml:18mg", 41000),)),
    ("门冬胰岛素", "A10AB", B, (("注射液", "3ml:300单位", 4350),)),
    ("甘精胰岛素", "A10AE", B, (("注射液", "3ml:300单位", 8960),)),
    ("精蛋白生物合成人胰岛素", "A10AC", A, (("注射液", "3ml:300单位", 3960),)),
    ("氨氯地平", "C08CA", A, (("片", "5mg×28片", 1180),)),
    ("硝苯地平", "C08CA", A, (("控释片", "30mg×7片", 3350), ("缓释片", "20mg×30片", 1280))),
    ("厄贝沙坦", "C09CA", A, (("片", "0.15g×28片", 1690),)),
    ("缬沙坦", "C09CA", B, (("胶囊", "80mg×28粒", 2250),)),
    ("氯沙坦钾", "C09CA", A, (("片", "50mg×28片", 1960),)),
    ("沙库巴曲缬沙坦钠", "C09DX", B, (("片", "100mg×14片", 9870),)),
    ("培哚普利", "C09AA", B, (("片", "4mg×30片", 4560),)),
    ("美托洛尔", "C07AB", A, (("片", "25mg×20片", 480), ("缓释片", "47.5mg×7片", 2180))),
    ("呋塞米", "C03CA", A, (("片", "20mg×100片", 650),)),
    ("阿托伐他汀钙", "C10AA", A, (("片", "20mg×7片", 1590),)),
    ("瑞舒伐他汀钙", "C10AA", A, (("片", "10mg×7片", 1250),)),
    ("依折麦布", "C10AX", B, (("片", "10mg×10片", 2880),)),
    ("阿司匹林", "B01AC", A, (("肠溶片", "100mg×30片", 1550),)),
    ("氯吡格雷", "B01AC", A, (("片", "75mg×7片", 1780),)),
    ("替格瑞洛", "B01AC", B, (("片", "90mg×14片", 5840),)),
    ("利伐沙班", "B01AF", B, (("片", "10mg×5片", 3390),)),
    ("华法林钠", "B01AA", A, (("片", "2.5mg×60片", 980),)),
    ("低分子肝素钙", "B01AB", B, (("注射液", "0.4ml:4100IU", 2860),)),
    ("依诺肝素钠", "B01AB", B, (("注射液", "0.4ml:4000AXaIU", 3920),)),
    ("单硝酸异山梨酯", "C01DA", B, (("缓释片", "40mg×24片", 2460),)),
    ("曲美他嗪", "C01EB", C, (("缓释片", "35mg×30片", 3620),)),
    ("前列地尔", "C01EA", C, (("注射液", "2ml:10μg", 6850),)),
    ("氨溴索", "R05CB", A, (("片", "30mg×20片", 560), ("口服溶液", "100ml:0.6g", 1850),
                           ("注射液", "2ml:15mg", 680))),
    ("乙酰半胱氨酸", "R05CB", B, (("泡腾片", "0.6g×6片", 2250),)),
    ("孟鲁司特钠", "R03DC", B, (("片", "10mg×5片", 2460), ("咀嚼片", "4mg×5片", 2080))),
    ("沙丁胺醇", "R03AC", A, (("气雾剂", "100μg×200揿", 2380),)),
    ("布地奈德", "R03BA", B, (("吸入粉雾剂", "0.1mg×200吸", 8960),
                             ("鼻喷雾剂", "64μg×120喷", 6380))),
    ("沙美特罗替卡松", "R03AK", B, (("吸入粉雾剂", "50μg/250μg×60泡", 15800),)),
    ("噻托溴铵", "R03BB", B, (("吸入粉雾剂", "18μg×30粒", 9250),)),
    ("氯雷他定", "R06AX", A, (("片", "10mg×6片", 1250),)),
    ("西替利嗪", "R06AE", A, (("片", "10mg×12片", 1580),)),
    ("依巴斯汀", "R06AX", C, (("片", "10mg×10片", 2680),)),
    ("奥美拉唑", "A02BC", B, (("肠溶胶囊", "20mg×14粒", 1380), ("注射用", "40mg", 1260))),
    ("雷贝拉唑钠", "A02BC", B, (("肠溶片", "10mg×14片", 3280),)),
    ("泮托拉唑钠", "A02BC", B, (("肠溶片", "40mg×7片", 1680), ("注射用", "40mg", 1150))),
    ("艾司奥美拉唑镁", "A02BC", B, (("肠溶片", "20mg×7片", 3580),)),
    ("铝碳酸镁", "A02AD", A, (("咀嚼片", "0.5g×20片", 1560),)),
    ("枸橼酸铋钾", "A02BX", B, (("胶囊", "0.3g×40粒", 2860),)),
    ("莫沙必利", "A03FA", B, (("片", "5mg×24片", 2580),)),
    ("昂丹司琼", "A04AA", B, (("注射液", "2ml:4mg", 680),)),
    ("蒙脱石", "A07BC", A, (("散", "3g×10袋", 1260),)),
    ("双歧杆菌三联活菌", "A07FA", B, (("胶囊", "210mg×36粒", 3580),)),
    ("乳果糖", "A06AD", B, (("口服溶液", "15ml×6袋", 2460),)),
    ("聚乙二醇4000", "A06AD", B, (("散", "10g×10袋", 2890),)),
    ("异甘草酸镁", "A05BA", B, (("注射液", "10ml:50mg", 4280),)),
    ("还原型谷胱甘肽", "V03AB", C, (("注射用", "1.2g", 3860),)),
    ("布洛芬", "M01AE", A, (("缓释胶囊", "0.3g×20粒", 1380), ("混悬液", "100ml:2g", 1650))),
    ("对乙酰氨基酚", "N02BE", A, (("片", "0.5g×12片", 380),)),
    ("双氯芬酸钠", "M01AB", A, (("缓释片", "75mg×10片", 1280), ("凝胶", "1%:20g", 1980))),
    ("塞来昔布", "M01AH", B, (("胶囊", "0.2g×6粒", 2560),)),
    ("洛索洛芬钠", "M01AE", B, (("片", "60mg×20片", 1860),)),
    ("氟比洛芬", "M02AA", B, (("贴膏", "40mg×6贴", 3680),)),
    ("曲马多", "N02AX", B, (("缓释片", "0.1g×10片", 2150),)),
    ("加巴喷丁", "N03AX", B, (("胶囊", "0.1g×50粒", 3260),)),
    ("普瑞巴林", "N03AX", B, (("胶囊", "75mg×14粒", 3980),)),
    ("丙戊酸钠", "N03AG", B, (("缓释片", "0.5g×30片", 6280),)),
    ("左乙拉西坦", "N03AX", B, (("片", "0.25g×30片", 5860),)),
    ("艾司唑仑", "N05CD", A, (("片", "1mg×20片", 280),)),
    ("佐匹克隆", "N05CF", B, (("片", "7.5mg×12片", 1680),)),
    ("舍曲林", "N06AB", B, (("片", "50mg×14片", 2980),)),
    ("艾司西酞普兰", "N06AB", B, (("片", "10mg×7片", 3260),)),
    ("帕罗西汀", "N06AB", A, (("片", "20mg×10片", 2380),)),
    ("奥氮平", "N05AH", B, (("片", "5mg×28片", 4860),)),
    ("多奈哌齐", "N06DA", B, (("片", "5mg×7片", 2580),)),
    ("甲钴胺", "B03BA", C, (("片", "0.5mg×20片", 1980),)),
    ("丙泊酚", "N01AX", A, (("注射液", "20ml:0.2g", 3560),)),
    ("利多卡因", "N01BB", A, (("注射液", "5ml:0.1g", 120),)),
    ("罗哌卡因", "N01BB", B, (("注射液", "10ml:100mg", 2980),)),
    ("舒芬太尼", "N01AH", A, (("注射液", "1ml:50μg", 3350),)),
    ("左甲状腺素钠", "H03AA", A, (("片", "50μg×100片", 2690),)),
    ("泼尼松", "H02AB", A, (("片", "5mg×100片", 1080),)),
    ("甲泼尼龙", "H02AB", B, (("片", "4mg×24片", 3260), ("注射用", "40mg", 1860))),
    ("地塞米松磷酸钠", "H02AB", A, (("注射液", "1ml:5mg", 95),)),
    ("阿法骨化醇", "A11CC", B, (("软胶囊", "0.25μg×20粒", 2860),)),
    ("阿仑膦酸钠", "M05BA", B, (("片", "70mg×4片", 3960),)),
    ("别嘌醇", "M04AA", A, (("片", "0.1g×100片", 1260),)),
    ("非布司他", "M04AA", B, (("片", "40mg×16片", 3260),)),
    ("坦索罗辛", "G04CA", B, (("缓释胶囊", "0.2mg×10粒", 2680),)),
    ("非那雄胺", "G04CB", B, (("片", "5mg×10片", 3580),)),
    ("氯化钠", "B05XA", A, (("注射液", "0.9%:250ml", 350),)),
    ("葡萄糖", "B05BA", A, (("注射液", "5%:250ml", 320),)),
    ("氯化钾", "B05XA", A, (("注射液", "10ml:1.5g", 160), ("缓释片", "0.5g×24片", 680))),
    ("人血白蛋白", "B05AA", B, (("注射液", "10g", 42000),)),
    ("氨甲环酸", "B02AA", A, (("注射液", "5ml:0.5g", 260),)),
    ("维生素C", "A11GA", C, (("片", "0.1g×100片", 280),)),
    ("琥珀酸亚铁", "B03AA", A, (("片", "0.1g×24片", 1280),)),
    ("奥沙利铂", "L01XA", B, (("注射用", "50mg", 29800),)),
    ("吉西他滨", "L01BC", B, (("注射用", "0.2g", 12800),)),
    ("玻璃酸钠", "S01XA", B, (("滴眼液", "0.1%:5ml", 2380),)),
    ("妥布霉素地塞米松", "S01CA", B, (("滴眼液", "5ml", 3260), ("眼膏", "3.5g", 2890))),
    ("红霉素", "D06AX", A, (("软膏", "1%:10g", 220),)),
    ("莫匹罗星", "D06AX", B, (("软膏", "2%:5g", 1980),)),
    ("糠酸莫米松", "D07AC", B, (("乳膏", "0.1%:10g", 2680),)),
    ("复方醋酸地塞米松", "D07XB", A, (("乳膏", "20g", 680),)),
    ("卡泊三醇", "D05AX", B, (("软膏", "15g", 6580),)),
    ("西地那非", "G04BE", C, (("片", "100mg×1片", 9800),)),
    ("碳酸钙D3", "A12AX", C, (("片", "600mg×60片", 3580),)),
    ("多种维生素矿物质", "A11AA", C, (("片", "60片", 12800),)),
    ("辅酶Q10", "C01EB", C, (("胶囊", "10mg×60粒", 2980),)),
    ("鱼油", "C10AX", C, (("软胶囊", "1g×100粒", 9800),)),
    ("氨基葡萄糖", "M01AX", C, (("胶囊", "0.25g×60粒", 7860),)),
    ("褪黑素", "N05CH", C, (("片", "3mg×60片", 6800),)),
    ("葡萄糖酸钙锌", "A12AX", C, (("口服溶液", "10ml×24支", 3680),)),
    ("奥利司他", "A08AB", C, (("胶囊", "0.12g×21粒", 18800),)),
    ("胸腺法新", "L03AX", C, (("注射用", "1.6mg", 18800),)),
    ("脑蛋白水解物", "N06BX", C, (("注射液", "5ml", 1860),)),
    ("鼠神经生长因子", "N07XX", C, (("注射用", "30μg", 22800),)),
    ("七叶皂苷钠", "C05CX", C, (("注射用", "10mg", 2860),)),
)  # fmt: skip

# Chinese patent medicines (中成药): (name, class, coverage, form, spec, typical fen).
_TCM: tuple[tuple[str, str, CoverageClass, str, str, Fen], ...] = (
    ("连花清瘟胶囊", "A01BA", B, "胶囊", "0.35g×24粒", 1580),
    ("板蓝根颗粒", "A04AA", C, "颗粒", "10g×20袋", 1280),
    ("感冒清热颗粒", "A01AA", A, "颗粒", "12g×10袋", 1460),
    ("疏风解毒胶囊", "A01BA", B, "胶囊", "0.52g×36粒", 3680),
    ("蒲地蓝消炎片", "A04AA", B, "片", "0.3g×48片", 3280),
    ("双黄连口服液", "A01BA", A, "口服液", "10ml×10支", 2680),
    ("小柴胡颗粒", "A01CA", A, "颗粒", "10g×10袋", 1860),
    ("藿香正气口服液", "A06AA", A, "口服液", "10ml×10支", 1650),
    ("急支糖浆", "A09AA", A, "糖浆", "200ml", 1580),
    ("苏黄止咳胶囊", "A09AA", B, "胶囊", "0.45g×24粒", 4260),
    ("宣肺败毒颗粒", "A04AA", B, "颗粒", "10g×10袋", 5880),
    ("复方丹参滴丸", "A16AA", B, "滴丸", "27mg×180丸", 2860),
    ("麝香保心丸", "A16AA", B, "丸", "22.5mg×42丸", 4280),
    ("通心络胶囊", "A16AA", B, "胶囊", "0.26g×30粒", 3860),
    ("脑心通胶囊", "A16AA", B, "胶囊", "0.4g×48粒", 4560),
    ("银杏叶片", "A16AA", C, "片", "9.6mg×24片", 2180),
    ("血塞通软胶囊", "A16AA", B, "软胶囊", "0.33g×24粒", 3260),
    ("复方血栓通胶囊", "A16AA", B, "胶囊", "0.5g×36粒", 4680),
    ("松龄血脉康胶囊", "A16AA", B, "胶囊", "0.5g×30粒", 3360),
    ("血府逐瘀胶囊", "A16AA", B, "胶囊", "0.4g×36粒", 2960),
    ("丹参注射液", "A16AA", B, "注射液", "10ml", 860),
    ("注射用血栓通", "A16AA", B, "注射用", "150mg", 3560),
    ("参麦注射液", "A12AA", B, "注射液", "20ml", 2380),
    ("喜炎平注射液", "A04AA", B, "注射液", "5ml:125mg", 2860),
    ("醒脑静注射液", "A13BA", B, "注射液", "10ml", 4180),
    ("六味地黄丸", "A12CA", A, "丸", "0.18g×360丸", 1860),
    ("金匮肾气丸", "A12DA", A, "丸", "0.2g×360丸", 2260),
    ("补中益气丸", "A12AA", A, "丸", "6g×10袋", 1580),
    ("逍遥丸", "A15AA", A, "丸", "6g×10袋", 1460),
    ("香砂养胃丸", "A15BA", A, "丸", "9g×10袋", 1560),
    ("气滞胃痛颗粒", "A15BA", A, "颗粒", "5g×9袋", 1680),
    ("牛黄解毒片", "A04BA", C, "片", "0.27g×48片", 480),
    ("乌鸡白凤丸", "A12EA", C, "丸", "9g×10丸", 2860),
    ("益母草颗粒", "A16BA", C, "颗粒", "15g×10袋", 1260),
    ("金水宝胶囊", "A12DA", C, "胶囊", "0.33g×72粒", 4860),
    ("百令胶囊", "A12DA", B, "胶囊", "0.5g×42粒", 5260),
    ("云南白药胶囊", "A16CA", B, "胶囊", "0.25g×32粒", 3180),
    ("云南白药气雾剂", "A16CA", B, "气雾剂", "85g+30g", 4980),
    ("消痛贴膏", "A16DA", B, "贴膏", "1.2g×6贴", 5680),
    ("伤湿止痛膏", "A16DA", C, "贴膏", "7cm×10cm×5贴", 680),
    ("安宫牛黄丸", "A13BA", B, "丸", "3g×1丸", 38000),
    ("健胃消食片", "A15CA", C, "片", "0.8g×32片", 1680),
    ("复方阿胶浆", "A12BA", C, "口服液", "20ml×12支", 6860),
    ("蜜炼川贝枇杷膏", "A09AA", C, "膏", "300ml", 5280),
    ("午时茶颗粒", "A01AA", C, "颗粒", "6g×10袋", 1560),
    ("片仔癀", "A04BA", C, "丸", "3g×1粒", 76000),
    ("灵芝孢子粉胶囊", "A12BA", C, "胶囊", "0.3g×60粒", 19800),
    ("西洋参含片", "A12BA", C, "含片", "0.6g×36片", 8680),
)

# 0.10 is the most common 先行自付 share, so it appears three times.
_SELFPAY_RATIOS = tuple(
    Decimal(r) for r in ("0.05", "0.10", "0.10", "0.10", "0.15", "0.20", "0.30")
)
_CAP_FACTORS = tuple(Decimal(f) for f in ("0.90", "0.95", "1.00", "1.10", "1.20", "1.50"))
_TENTH = Decimal(10)


def _round_to_10(value: Decimal) -> Fen:
    """Caps are set in whole jiao (10 fen), like published price lists, and are at least 1 fen."""
    return max(1, int((value / _TENTH).to_integral_value()) * 10)


def _make_item(code: str, name: str, coverage: CoverageClass, price: Fen) -> CatalogueItem:
    """Sample ratio for B items and a cap on about 30% of A/B items, all from the code."""
    if coverage is C:
        return CatalogueItem(code, name, C)
    h = _stable("item", code)
    ratio = _SELFPAY_RATIOS[h % len(_SELFPAY_RATIOS)] if coverage is B else Decimal(0)
    cap = None
    if (h // 7) % 100 < 30:
        cap = _round_to_10(price * _CAP_FACTORS[(h // 700) % len(_CAP_FACTORS)])
    return CatalogueItem(code, name, coverage, ratio, cap)


def _drug_code(prefix: str, cls: str, drug: str, form: str, spec_no: int, name: str) -> str:
    h = _stable("drug", drug)
    drug_segment = "ABCDEFGHJKLMNPQRSTUVWXYZ"[h % 24] + f"{(h // 24) % 1000:03d}"
    maker = _stable("maker", name) % 100_000
    return f"{prefix}{cls}{drug_segment}{_FORMS[form]}{spec_no:02d}01{maker:05d}"


def _drug_name(ingredient: str, form: str, spec: str) -> str:
    base = f"注射用{ingredient}" if form == "注射用" else f"{ingredient}{form}"
    return f"{base}({spec})"


def _generated() -> Iterator[tuple[str, str, CoverageClass, Fen, ItemKind]]:
    """(code, name, class, typical fen, kind) of every non-golden item."""
    sequence: dict[str, int] = {}
    for group, name, coverage, price in _SERVICES:
        kind = _SERVICE_KIND.get(group) or _SERVICE_KIND[group[:4]]
        while True:  # skip sequence numbers the golden items already use
            sequence[group] = sequence.get(group, 0) + 1
            code = f"{group}{sequence[group]:05d}0000"
            if code not in GOLDEN_CODES:
                break
        yield code, name, coverage, price, kind
    for ingredient, cls, coverage, forms in _WESTERN:
        for spec_no, (form, spec, price) in enumerate(forms, start=1):
            name = _drug_name(ingredient, form, spec)
            kind = ItemKind.INJECTION if _FORMS[form][0] == "B" else ItemKind.DRUG
            yield _drug_code("X", cls, ingredient, form, spec_no, name), name, coverage, price, kind
    for name, cls, coverage, form, spec, price in _TCM:
        kind = ItemKind.INJECTION if _FORMS[form][0] == "B" else ItemKind.TCM
        full = f"{name}({spec})"
        yield _drug_code("Z", cls, name, form, 1, full), full, coverage, price, kind


@cache
def _table() -> tuple[tuple[CatalogueItem, ItemKind, Fen], ...]:
    rows = list(_GOLDEN)
    rows += [(_make_item(c, n, cov, p), k, p) for c, n, cov, p, k in _generated()]
    codes = [item.code for item, _, _ in rows]
    names = [item.name for item, _, _ in rows]
    if len(set(codes)) != len(codes) or len(set(names)) != len(names):
        raise RuntimeError("sample catalogue: duplicate code or name")  # a table edit went wrong
    return tuple(sorted(rows, key=lambda row: row[0].code))


def national_catalogue() -> tuple[CatalogueItem, ...]:
    """The sample national catalogue (about 300 items, sorted by code)."""
    return tuple(item for item, _, _ in _table())


TYPICAL_PRICE: Mapping[str, Fen] = MappingProxyType({i.code: p for i, _, p in _table()})
_KIND: Mapping[str, ItemKind] = MappingProxyType({i.code: k for i, k, _ in _table()})


def typical_unit_price(item: CatalogueItem) -> Fen:
    """Typical unit price in fen; for a code not in the sample, its cap or 10 yuan."""
    price = TYPICAL_PRICE.get(item.code)
    if price is not None:
        return price
    return item.price_cap if item.price_cap is not None else 1000


def item_kind(item: CatalogueItem) -> ItemKind:
    """What the item is; codes not in the sample are guessed from their shape."""
    kind = _KIND.get(item.code)
    if kind is not None:
        return kind
    if item.code.isdigit():
        return ItemKind.TREATMENT
    return ItemKind.TCM if item.code.startswith("Z") else ItemKind.DRUG


def _shift_ratio(ratio: Decimal, up: bool) -> Decimal:
    step = Decimal("0.05")
    return min(max(ratio + step if up else ratio - step, step), Decimal("0.30"))


def _regional_item(item: CatalogueItem, region: str) -> CatalogueItem:
    """Small deterministic provincial and city differences; golden items never change."""
    if item.code in GOLDEN_CODES:
        return item
    province = region[:2]
    p = _stable("province", province, item.code) % 1000
    c = _stable("city", region, item.code) % 1000
    cov, ratio, cap = item.coverage, item.selfpay_ratio, item.price_cap
    if province == "31" and cov is C and p < 150:
        cov, ratio = B, Decimal("0.30")  # 上海: a few 丙类 items listed as 乙类
    elif province == "33" and cov is B and p < 200:
        ratio = _shift_ratio(ratio, up=ratio <= Decimal("0.10"))  # 浙江: other 先行自付 ratios
    elif province == "32" and cap is not None and p < 250:
        cap = _round_to_10(cap * Decimal("0.90"))  # 江苏: some tighter 限价
    elif province == "34" and cov is not C and cap is None and p < 60:
        cap = _round_to_10(Decimal(TYPICAL_PRICE[item.code]))  # 安徽: a few extra caps
    if cov is not C and cap is not None and c < 40:
        cap = _round_to_10(cap * Decimal("1.05"))  # a city's own price list
    if (cov, ratio, cap) == (item.coverage, item.selfpay_ratio, item.price_cap):
        return item
    return CatalogueItem(item.code, item.name, cov, ratio, cap)


@cache
def regional_catalogue(region_code: str) -> tuple[CatalogueItem, ...]:
    """The catalogue of a visit region (就医地目录): national list, sample local variations."""
    region = parse_region_code(region_code)
    return tuple(_regional_item(item, region) for item in national_catalogue())
