"""Sample designated medical institutions (定点医疗机构) of every YRD region.

Codes are ``H`` + region code + a 5-digit sequence (H31000000001, ...): level-3 hospitals first,
then level 2, then community health centres and township hospitals (level 1). ``enabled`` means
enabled for cross-region direct settlement (跨省/跨市直接结算定点). The three regions the demo
talks about have fixed counts (上海 682 enabled, 金华 141, 杭州 118); the others have 20-60
institutions, most enabled. Names are plausible, unique within a region, not a real register.
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass
from functools import cache

from tongban.domain.identifiers import parse_region_code
from tongban.domain.regions import region


@dataclass(frozen=True)
class SampleInstitution:
    code: str
    name: str
    level: int  # 1 community/township, 2 district/county hospital, 3 三级 hospital
    enabled: bool  # enabled for cross-region direct settlement


# region → (total institutions, enabled, level-3 count, level-2 count)
_FIXED_COUNTS = {
    "310000": (720, 682, 40, 110),
    "330700": (160, 141, 8, 30),
    "330100": (140, 118, 12, 26),
}

# 县/区 (counties and districts), the first being the central urban district.
_DISTRICTS = {
    "310000": "黄浦区 徐汇区 长宁区 静安区 普陀区 虹口区 杨浦区 闵行区 宝山区 嘉定区 浦东新区 "
    "金山区 松江区 青浦区 奉贤区 崇明区",
    "320100": "玄武区 秦淮区 建邺区 鼓楼区 浦口区 栖霞区 雨花台区 江宁区 六合区 溧水区 高淳区",
    "320200": "梁溪区 锡山区 惠山区 滨湖区 新吴区 江阴市 宜兴市",
    "320300": "鼓楼区 云龙区 贾汪区 泉山区 铜山区 丰县 沛县 睢宁县 新沂市 邳州市",
    "320400": "天宁区 钟楼区 新北区 武进区 金坛区 溧阳市",
    "320500": "姑苏区 虎丘区 吴中区 相城区 吴江区 常熟市 张家港市 昆山市 太仓市",
    "320600": "崇川区 通州区 海门区 如东县 启东市 如皋市 海安市",
    "320700": "海州区 连云区 赣榆区 东海县 灌云县 灌南县",
    "320800": "清江浦区 淮安区 淮阴区 洪泽区 涟水县 盱眙县 金湖县",
    "320900": "亭湖区 盐都区 大丰区 响水县 滨海县 阜宁县 射阳县 建湖县 东台市",
    "321000": "广陵区 邗江区 江都区 宝应县 仪征市 高邮市",
    "321100": "京口区 润州区 丹徒区 丹阳市 扬中市 句容市",
    "321200": "海陵区 高港区 姜堰区 兴化市 靖江市 泰兴市",
    "321300": "宿城区 宿豫区 沭阳县 泗阳县 泗洪县",
    "330100": "上城区 拱墅区 西湖区 滨江区 萧山区 余杭区 临平区 钱塘区 富阳区 临安区 桐庐县 "
    "淳安县 建德市",
    "330200": "海曙区 江北区 北仑区 镇海区 鄞州区 奉化区 象山县 宁海县 余姚市 慈溪市",
    "330300": "鹿城区 龙湾区 瓯海区 洞头区 永嘉县 平阳县 苍南县 文成县 泰顺县 瑞安市 乐清市",
    "330400": "南湖区 秀洲区 嘉善县 海盐县 海宁市 平湖市 桐乡市",
    "330500": "吴兴区 南浔区 德清县 长兴县 安吉县",
    "330600": "越城区 柯桥区 上虞区 新昌县 诸暨市 嵊州市",
    "330700": "婺城区 金东区 武义县 浦江县 磐安县 兰溪市 义乌市 东阳市 永康市",
    "330800": "柯城区 衢江区 常山县 开化县 龙游县 江山市",
    "330900": "定海区 普陀区 岱山县 嵊泗县",
    "331000": "椒江区 黄岩区 路桥区 三门县 天台县 仙居县 温岭市 临海市 玉环市",
    "331100": "莲都区 青田县 缙云县 遂昌县 松阳县 云和县 庆元县 龙泉市",
    "340100": "庐阳区 瑶海区 蜀山区 包河区 长丰县 肥东县 肥西县 庐江县 巢湖市",
    "340200": "镜湖区 鸠江区 弋江区 湾沚区 繁昌区 南陵县 无为市",
    "340300": "蚌山区 龙子湖区 禹会区 淮上区 怀远县 五河县 固镇县",
    "340400": "田家庵区 大通区 谢家集区 八公山区 潘集区 凤台县 寿县",
    "340500": "花山区 雨山区 博望区 当涂县 含山县 和县",
    "340600": "相山区 杜集区 烈山区 濉溪县",
    "340700": "铜官区 义安区 郊区 枞阳县",
    "340800": "迎江区 大观区 宜秀区 怀宁县 太湖县 宿松县 望江县 岳西县 桐城市 潜山市",
    "341000": "屯溪区 黄山区 徽州区 歙县 休宁县 黟县 祁门县",
    "341100": "琅琊区 南谯区 来安县 全椒县 定远县 凤阳县 天长市 明光市",
    "341200": "颍州区 颍东区 颍泉区 临泉县 太和县 阜南县 颍上县 界首市",
    "341300": "埇桥区 砀山县 萧县 灵璧县 泗县",
    "341500": "金安区 裕安区 叶集区 霍邱县 舒城县 金寨县 霍山县",
    "341600": "谯城区 涡阳县 蒙城县 利辛县",
    "341700": "贵池区 东至县 石台县 青阳县",
    "341800": "宣州区 郎溪县 泾县 绩溪县 旌德县 宁国市 广德市",
}

# Well-known 三级 hospitals where the sample names them; other cities use the templates below.
_LEVEL3 = {
    "310000": "复旦大学附属中山医院 复旦大学附属华山医院 上海交通大学医学院附属瑞金医院 "
    "上海交通大学医学院附属仁济医院 上海交通大学医学院附属新华医院 上海市第一人民医院 "
    "上海市第六人民医院 上海市第九人民医院 上海市第十人民医院 上海市同济医院 上海市东方医院 "
    "上海长海医院 上海长征医院 复旦大学附属肿瘤医院 复旦大学附属儿科医院 上海儿童医学中心 "
    "上海市儿童医院 复旦大学附属妇产科医院 国际和平妇幼保健院 复旦大学附属眼耳鼻喉科医院 "
    "上海市胸科医院 上海市肺科医院 上海市精神卫生中心 上海市皮肤病医院 上海市口腔医院 "
    "上海市公共卫生临床中心 上海中医药大学附属龙华医院 上海中医药大学附属曙光医院 "
    "上海中医药大学附属岳阳中西医结合医院 上海市中医医院 上海市第五人民医院 "
    "上海市第七人民医院 上海市第八人民医院 复旦大学附属华东医院 上海市静安区中心医院 "
    "上海市普陀区中心医院 上海市浦东医院 上海市奉贤区中心医院 上海市松江区中心医院 "
    "上海市嘉定区中心医院",
    "330100": "浙江大学医学院附属第一医院 浙江大学医学院附属第二医院 浙江大学医学院附属邵逸夫医院 "
    "浙江大学医学院附属儿童医院 浙江大学医学院附属妇产科医院 浙江省人民医院 浙江省中医院 "
    "浙江省肿瘤医院 浙江医院 杭州市第一人民医院 杭州市中医院 杭州市第三人民医院",
    "330700": "金华市中心医院 金华市人民医院 金华市中医医院 浙江大学医学院附属第四医院 "
    "义乌市中心医院 东阳市人民医院 永康市第一人民医院 金华市妇幼保健院",
    "320100": "江苏省人民医院 南京鼓楼医院 江苏省中医院 南京市第一医院 南京市儿童医院",
    "320500": "苏州大学附属第一医院 苏州大学附属第二医院 苏州市立医院 苏州大学附属儿童医院",
    "330200": "宁波市第一医院 宁波大学附属第一医院 宁波市医疗中心李惠利医院 宁波市中医院",
    "330300": "温州医科大学附属第一医院 温州医科大学附属第二医院 温州市人民医院 温州市中医院",
    "340100": "安徽医科大学第一附属医院 中国科学技术大学附属第一医院 安徽医科大学第二附属医院 "
    "安徽中医药大学第一附属医院 合肥市第一人民医院",
}
_LEVEL3_TEMPLATES = (
    "{c}第一人民医院", "{c}中心医院", "{c}中医院", "{c}第二人民医院", "{c}妇幼保健院",
)  # fmt: skip
_LEVEL2_TEMPLATES = (
    "{d}人民医院", "{d}中医医院", "{d}妇幼保健院", "{d}第二人民医院", "{d}中西医结合医院",
    "{d}精神卫生中心", "{d}老年医院", "{d}康复医院", "{d}第三人民医院", "{d}口腔医院",
)  # fmt: skip

# Plausible 街道/镇 names, shared by every city (a sample, not each district's real list).
_STREETS = (
    "城关", "城东", "城西", "城南", "城北", "新城", "东湖", "西湖", "北山", "南山", "江滨",
    "湖滨", "桥头", "长安", "和平", "解放", "人民", "建设", "新华", "朝阳", "东风", "红星",
    "光明", "文昌", "文化", "凤凰", "龙山", "虎山", "狮山", "白云", "青山", "翠苑", "古荡",
    "半山", "花园", "梅林", "桃源", "柳营", "竹溪", "松林", "清河", "金沙", "银湖", "玉泉",
    "望江", "临江", "沿江", "环城", "永安", "永宁", "永丰", "太平", "安定", "安乐", "长寿",
    "福山", "仁和", "义和", "马桥", "石桥", "板桥", "双桥", "五里", "十里", "三江", "九龙",
    "天宁", "宝塔",
)  # fmt: skip


def _stable_seed(*parts: str) -> int:
    digest = hashlib.sha256("|".join(parts).encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big")


def _counts(code: str) -> tuple[int, int, int, int]:
    """(total, enabled, level 3, level 2) for a region."""
    if code in _FIXED_COUNTS:
        return _FIXED_COUNTS[code]
    h = _stable_seed("institution-counts", code)
    total = 20 + h % 41  # 20..60
    disabled = 1 + (h // 41) % max(2, total // 8)  # a few not (yet) enabled
    named = len(_LEVEL3.get(code, "").split())
    level3 = named or 2 + (h // 997) % 3
    level2 = max(3, total // 5)
    return total, total - disabled, level3, level2


def _place(city: str, district: str) -> str:
    """How a district appears in a name: 区 under the city's name, 县/市 on their own."""
    return city + district if district.endswith("区") else district


def _names(code: str, level3: int, level2: int, level1: int) -> list[tuple[str, int]]:
    city = region(code).name_zh  # e.g. 金华市; Shanghai names read 上海市... as well
    districts = _DISTRICTS[code].split()
    taken: set[str] = set()
    result: list[tuple[str, int]] = []

    def add(name: str, level: int) -> bool:
        if name in taken:
            return False
        taken.add(name)
        result.append((name, level))
        return True

    named = _LEVEL3.get(code, "").split()
    for name in named[:level3]:
        add(name, 3)
    for template in _LEVEL3_TEMPLATES:
        if sum(1 for _, lv in result if lv == 3) >= level3:
            break
        add(template.format(c=city), 3)
    # Level 2: district/county hospitals, walking templates × districts in a fixed order.
    wanted = len(result) + level2
    for template in _LEVEL2_TEMPLATES:
        for district in districts:
            if len(result) >= wanted:
                break
            add(template.format(d=_place(city, district)), 2)
    # Level 1: 社区卫生服务中心 in districts, 镇卫生院 in counties, in a shuffled fixed order.
    combos = [(d, s) for s in _STREETS for d in districts]
    random.Random(_stable_seed("streets", code)).shuffle(combos)
    wanted = len(result) + level1
    for district, street in combos:
        if len(result) >= wanted:
            break
        if district.endswith("区"):
            add(f"{_place(city, district)}{street}街道社区卫生服务中心", 1)
        else:
            add(f"{district}{street}镇卫生院", 1)
    number = 1
    while len(result) < wanted:  # more centres than street names: satellite stations
        district, street = combos[number % len(combos)]
        add(f"{_place(city, district)}{street}社区卫生服务站第{number}站", 1)
        number += 1
    return result


@cache
def sample_institutions(region_code: str) -> tuple[SampleInstitution, ...]:
    """The sample institutions of one region, ordered by code."""
    code = parse_region_code(region_code)
    total, enabled, level3, level2 = _counts(code)
    names = _names(code, level3, level2, total - level3 - level2)
    # Hospitals of level 2 and 3 are all enabled; the not-enabled ones are community centres.
    level1_positions = [i for i, (_, level) in enumerate(names) if level == 1]
    rng = random.Random(_stable_seed("enabled", code))
    disabled = set(rng.sample(level1_positions, total - enabled))
    return tuple(
        SampleInstitution(f"H{code}{i + 1:05d}", name, level, i not in disabled)
        for i, (name, level) in enumerate(names)
    )
