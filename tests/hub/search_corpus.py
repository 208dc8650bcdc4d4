"""A Chinese search test set: 500+ short party-building articles and the queries they answer.

Written for the tests (no text is copied from anywhere): generated articles from templates
(14 topics x 9 districts x 4 towns), and hand-written feature articles that a query is really
about. The relevance is by construction:

- a generated article mentions its topic's term once, in the body, and never another topic's
  term or a rare word; its title names the town, its body the district;
- a feature article has its term in the title, the summary and the body: for a topic's query,
  the two feature articles of that topic are the most relevant items;
- rare words (跳磴镇, 金鳌山, 古树名木, 冬训, 川剧, 12371, ...) occur only in the feature
  articles named by their queries.

`QUERIES` maps each query to the content keys that must be among its first five results.
"""

from __future__ import annotations

import dataclasses
import datetime as dt

T0 = dt.datetime(2025, 1, 6, 8, 0, tzinfo=dt.UTC)


@dataclasses.dataclass(frozen=True)
class Article:
    key: str  # content key "<tenant>:<article id>"
    tenant: str
    org_code: str
    org_name: str
    title: str
    summary: str
    body: str
    published_at: dt.datetime


#: (tenant slug, code prefix, district, four towns)
DISTRICTS = (
    ("dadukou", "500104", "大渡口区", ("八桥镇", "跃进村街道", "春晖路街道", "茄子溪街道")),
    ("jiulongpo", "500107", "九龙坡区", ("杨家坪街道", "石桥铺街道", "白市驿镇", "西彭镇")),
    ("shapingba", "500106", "沙坪坝区", ("小龙坎街道", "井口街道", "歌乐山街道", "青木关镇")),
    ("yuzhong", "500103", "渝中区", ("解放碑街道", "朝天门街道", "七星岗街道", "大坪街道")),
    ("beibei", "500109", "北碚区", ("天生街道", "北温泉街道", "澄江镇", "静观镇")),
    ("wanzhou", "500101", "万州区", ("高笋塘街道", "龙都街道", "分水镇", "武陵镇")),
    ("fuling", "500102", "涪陵区", ("敦仁街道", "江北街道", "南沱镇", "白涛街道")),
    ("jiangbei", "500105", "江北区", ("观音桥街道", "寸滩街道", "五宝镇", "鱼嘴镇")),
    ("tongguan", "340705", "铜陵市铜官区", ("幸福街道", "新城街道", "西湖镇", "东郊街道")),
)
TENANTS = tuple((slug, prefix) for slug, prefix, _district, _towns in DISTRICTS)

#: (term, title templates, topic sentence): the term appears in the sentence only.
TOPICS = (
    ("三会一课", ("{town}{org}召开季度支部党员大会", "{town}{org}党小组集中学习",
                  "{town}{org}书记讲授专题党课"),
     "按照三会一课要求，{org}认真组织本次活动，会议通报了近期重点工作。"),
    ("主题党日", ("{town}{org}组织党员参观红色场馆", "{town}{org}开展重温入党誓词活动",
                  "{town}{org}党员走进田间地头"),
     "本月主题党日，{org}组织党员集中学习并开展实践活动。"),
    ("党费", ("{town}{org}按月收缴并张榜", "{town}{org}完成年度收缴核对",
              "{town}{org}开展交纳情况自查"),
     "{org}按规定按月收缴党费，做到足额交纳、专款专用。"),
    ("志愿服务", ("{town}党员服务队走进居民小区", "{town}{org}党员为群众办实事",
                  "{town}{org}开展便民活动"),
     "{org}组织党员开展志愿服务，帮助社区居民解决身边小事。"),
    ("乡村振兴", ("{town}发展特色种植带动群众增收", "{town}{org}领办合作社",
                  "{town}{org}引进农业项目"),
     "{org}围绕乡村振兴战略发展特色产业，带动村民增收致富。"),
    ("组织关系转接", ("{town}{org}为新入职党员办理接收", "{town}{org}开展党员信息核查",
                      "{town}{org}集中排查失联党员"),
     "{org}规范组织关系转接流程，确保每名党员都纳入组织管理。"),
    ("党史学习教育", ("{town}{org}赴革命旧址开展现场教学", "{town}{org}举办红色故事分享会",
                      "{town}{org}组织观看红色电影"),
     "{org}把党史学习教育同本职工作结合起来，引导党员学史明理。"),
    ("基层治理", ("{town}推行院坝会议事机制", "{town}{org}化解邻里矛盾纠纷",
                  "{town}{org}建立楼栋长制度"),
     "{org}坚持党建引领基层治理，推动问题在一线解决。"),
    ("发展党员", ("{town}{org}召开发展对象座谈会", "{town}{org}开展入党申请人谈话",
                  "{town}{org}举行预备党员接收会议"),
     "{org}严格执行发展党员工作程序，坚持成熟一个发展一个。"),
    ("民主评议", ("{town}{org}开展年度党员评议", "{town}{org}召开组织生活会",
                  "{town}{org}开展批评与自我批评"),
     "{org}组织开展民主评议党员，党员逐一对照检查。"),
    ("廉政教育", ("{town}{org}组织观看警示片", "{town}{org}开展家风家训宣讲",
                  "{town}{org}召开以案促改会议"),
     "{org}深化廉政教育，引导党员干部筑牢思想防线。"),
    ("防汛", ("{town}党员干部坚守江堤一线", "{town}{org}排查地质灾害隐患",
              "{town}{org}转移受威胁群众"),
     "面对严峻的防汛形势，{org}党员冲锋在前。"),
    ("人居环境整治", ("{town}开展村容村貌提升行动", "{town}{org}清理房前屋后",
                      "{town}{org}打造美丽庭院"),
     "{org}持续推进人居环境整治，村容村貌焕然一新。"),
    ("结对帮扶", ("{town}{org}党员走访困难家庭", "{town}{org}为独居老人送温暖",
                  "{town}{org}助力就业增收"),
     "{org}开展一对一结对帮扶，帮助群众解决实际困难。"),
)
CLOSINGS = ("活动结束后，大家纷纷表示收获很大。", "下一步，将继续巩固拓展工作成果。",
            "参加活动的党员表示，要把学到的本领用到工作中去。", "据了解，此类活动今年已开展多次。")


def generated_key(term: str, tenant: str, town: int) -> str:
    """The content key of the generated article of topic `term` in a tenant's town 0-3."""
    topic = next(i for i, t in enumerate(TOPICS) if t[0] == term)
    return f"{tenant}:{1000 + topic * 10 + town}"


def _generated() -> list[Article]:
    articles = []
    for d, (slug, prefix, district, towns) in enumerate(DISTRICTS):
        for t, (term, titles, sentence) in enumerate(TOPICS):
            for v, town in enumerate(towns):
                org = "党工委" if town.endswith("街道") else "党委"
                title = titles[(v + d) % len(titles)].format(town=town, org=org)
                body = (f"近日，{district}{town}{org}组织开展了一次活动。"
                        f"{sentence.format(org=org)}{CLOSINGS[(t + v + d) % len(CLOSINGS)]}")
                articles.append(Article(
                    key=generated_key(term, slug, v), tenant=slug,
                    org_code=f"{prefix}{v + 1:03d}", org_name=f"中共{town}{org}",
                    title=title, summary=f"{district}{town}{org}的一次工作实践。", body=body,
                    published_at=T0 + dt.timedelta(hours=len(articles) * 7 % 2000)))
    return articles


#: (id, tenant, title, summary, body): the articles the queries are about.
FEATURES = (
    ("F01", "dadukou", "严格落实三会一课制度 提升组织生活质量",
     "区委组织部要求各支部把三会一课落到实处。",
     "三会一课是党的组织生活的基本制度。通知明确支部党员大会、支部委员会、党小组会和党课的"
     "召开频次，要求三会一课记录规范完整。"),
    ("F02", "yuzhong", "三会一课质量评估结果公布",
     "评估覆盖全区所有党支部的三会一课开展情况。",
     "评估组逐一查阅三会一课台账，对开展质量较高的支部予以通报表扬，对三会一课流于形式的"
     "支部督促整改。"),
    ("F03", "jiulongpo", "主题党日活动如何开展？一份指南请收好",
     "主题党日要有主题、有内容、有实效。",
     "指南提出，主题党日可以结合重要节点安排学习、议事和实践，主题党日结束后要及时总结。"),
    ("F04", "beibei", "每月固定一天为主题党日",
     "北碚区规范主题党日时间和内容。",
     "全区各党支部统一把每月一天作为主题党日，主题党日当天组织党员学习、交纳党费前的"
     "提醒和志愿活动。"),
    ("F05", "wanzhou", "党费收缴使用和管理工作专项检查启动",
     "检查党费收缴、使用和管理的规范情况。",
     "检查组将抽查各党组织的党费台账，重点看党费是否按月收缴、党费使用是否符合规定。"),
    ("F06", "tongguan", "党费怎么交？党费交纳标准解读",
     "以月工资收入为基数，按不同比例交纳党费。",
     "党费交纳标准按照收入分档确定。学生党员、离退休党员的党费交纳标准另有规定。"),
    ("F07", "shapingba", "党员志愿服务队成立 首批队员走进社区",
     "志愿服务队由在职党员和退休党员组成。",
     "志愿服务队将常态化开展志愿服务，为社区居民提供政策宣传、义诊和维修等服务。"),
    ("F08", "jiangbei", "志愿服务积分兑换超市开张",
     "志愿服务时长可以兑换生活用品。",
     "社区推出志愿服务积分制度，党员和群众参加志愿服务即可累计积分，在社区超市兑换物品。"),
    ("F09", "fuling", "乡村振兴示范村建设观摩会召开",
     "观摩乡村振兴示范村的产业发展和村庄建设。",
     "与会人员实地观摩了榨菜产业园和乡村振兴示范村，交流以产业带动乡村振兴的经验。"),
    ("F10", "wanzhou", "乡村振兴人才培训班开班",
     "培训村党组织书记和致富带头人。",
     "培训班围绕乡村振兴和产业发展设置课程，帮助学员提升带领群众发展产业的能力，服务乡村振兴。"),
    ("F11", "dadukou", "组织关系转接全程网上办",
     "流动党员如何办理组织关系转接手续，一文说清。",
     "组织关系转接可在线提交申请。流动党员办理组织关系转接手续时，转出和接收党组织在系统中"
     "确认即可，组织关系转接不再需要来回跑。"),
    ("F12", "jiulongpo", "毕业生党员组织关系转接提示",
     "毕业生党员要及时转接组织关系。",
     "毕业生党员应在规定时间内完成组织关系转接，避免成为失联党员；组织关系转接遇到问题可以"
     "咨询所在学校党组织。"),
    ("F13", "shapingba", "党史学习教育走进红色纪念馆",
     "以党史学习教育凝聚奋进力量。",
     "党员在纪念馆开展党史学习教育现场教学，讲解员讲述革命先辈的故事，党史学习教育入脑入心。"),
    ("F14", "yuzhong", "党史学习教育专题读书班结业",
     "读书班为期五天，党史学习教育成果丰硕。",
     "读书班采取专题辅导、交流研讨等方式开展党史学习教育，学员撰写了党史学习教育心得体会。"),
    ("F15", "jiangbei", "党建引领基层治理 三事分流工作法见实效",
     "以党建引领基层治理，群众的事由群众商量着办。",
     "社区把居民诉求分为大事、小事和私事分类处理，党建引领基层治理的做法得到群众认可。"),
    ("F16", "beibei", "基层治理网格化工作推进会召开",
     "推进基层治理网格化、精细化。",
     "会议要求完善网格化管理，把党小组建在网格上，提升基层治理效能。"),
    ("F17", "fuling", "发展党员工作规范化培训举行",
     "讲解发展党员工作的二十五个步骤。",
     "培训围绕发展党员的程序和材料进行讲解，要求严把发展党员入口关。"),
    ("F18", "tongguan", "发展党员公示：三名发展对象拟接收为预备党员",
     "发展党员工作公示期为五个工作日。",
     "根据发展党员工作程序，现将三名发展对象的基本情况予以公示，发展党员公示期间接受群众监督。"),
    ("F19", "wanzhou", "民主评议党员工作部署会召开",
     "全面开展民主评议党员工作。",
     "会议要求各支部认真组织民主评议党员，通过个人自评、党员互评和民主测评确定评议等次。"),
    ("F20", "dadukou", "民主评议结果运用办法出台",
     "民主评议结果与党员激励关怀挂钩。",
     "办法规定，民主评议结果作为评先评优的重要依据，民主评议中发现的问题要限期整改。"),
    ("F21", "jiulongpo", "廉政教育基地揭牌",
     "廉政教育基地面向全区党员干部开放。",
     "廉政教育基地设置历史廉吏、警示案例等展区，党员干部可以预约参观接受廉政教育。"),
    ("F22", "shapingba", "歌乐山下廉政教育月活动启动",
     "廉政教育月期间将开展系列活动。",
     "启动仪式在歌乐山街道举行。廉政教育月期间，各党组织将开展廉政党课和廉政教育专题学习。"),
    ("F23", "beibei", "防汛应急演练在嘉陵江边举行",
     "演练检验防汛队伍的应急处置能力。",
     "防汛应急演练模拟江水上涨、群众被困等情况，党员突击队迅速集结参与防汛救援。"),
    ("F24", "fuling", "防汛一线党旗红",
     "汛期以来党员干部日夜坚守防汛一线。",
     "在防汛一线，党员干部巡堤查险、转移群众，把党旗插在防汛最前沿。"),
    ("F25", "jiangbei", "人居环境整治现场推进会召开",
     "人居环境整治要在垃圾分类和污水治理上下功夫。",
     "会议现场观摩了垃圾分类示范点，要求把人居环境整治作为民生实事抓实抓好。"),
    ("F26", "tongguan", "人居环境整治百日攻坚行动启动",
     "百日攻坚推动人居环境整治见效。",
     "行动聚焦背街小巷和城乡接合部，党员带头参与人居环境整治，清理卫生死角。"),
    ("F27", "yuzhong", "结对帮扶暖人心",
     "党员与困难群众结对帮扶。",
     "机关党员与困难群众开展结对帮扶，定期上门走访，结对帮扶帮助困难群众解决就医和就业难题。"),
    ("F28", "wanzhou", "结对帮扶工作年度总结",
     "全年结对帮扶困难群众一千余户。",
     "总结指出，结对帮扶要精准识别困难群众需求，持续巩固结对帮扶成果。"),
    ("F29", "dadukou", "跳磴镇党委组织党员重温入党誓词",
     "跳磴镇各支部党员参加活动。",
     "活动在跳磴镇党群服务中心举行，全体党员面对党旗重温入党誓词。"),
    ("F30", "dadukou", "金鳌山上党旗飘 党员护林在行动",
     "党员护林队为古树名木挂牌。",
     "大渡口区跳磴镇的党员护林队登上金鳌山巡山护林，为山上的古树名木挂牌建档。"),
    ("F31", "beibei", "缙云山古树名木保护调查完成",
     "调查登记古树名木三百余株。",
     "党员技术人员深入林区，对古树名木逐株定位拍照，建立古树名木保护档案。"),
    ("F32", "tongguan", "铜官区委召开党员冬训动员会",
     "部署今冬明春党员教育培训工作。",
     "会议要求各党组织精心组织冬训学习，同时抓好岁末年初安全生产检查。"),
    ("F33", "jiangbei", "智慧党建平台上线 党员学习有了掌上课堂",
     "智慧党建平台整合学习、缴费和活动报名功能。",
     "党员通过手机登录智慧党建平台，即可参加线上学习，平台将逐步推广到各个支部。"),
    ("F34", "yuzhong", "两优一先表彰大会召开",
     "表彰优秀共产党员、优秀党务工作者和先进基层党组织。",
     "大会宣读了两优一先表彰决定，受表彰代表作交流发言。"),
    ("F35", "shapingba", "非物质文化遗产进磁器口 党员传承川剧艺术",
     "川剧名家在磁器口街道为居民演出。",
     "党员文艺志愿者把非物质文化遗产川剧带进磁器口，让群众在家门口欣赏传统艺术。"),
    ("F36", "tongguan", "12371党员服务热线完成升级",
     "拨打12371即可咨询党务问题。",
     "升级后的12371热线支持在线留言，党员可以咨询组织生活、党籍管理等问题。"),
    ("F37", "fuling", "七一前夕走访慰问老党员",
     "为老党员送去节日问候。",
     "七一前夕，区委负责同志走访慰问老党员和生活困难党员，听取他们的意见建议。"),
    ("F38", "jiulongpo", "基层党建工作经验交流会召开",
     "交流基层党建工作的好做法。",
     "会上，六个党组织书记交流了抓基层党建工作的经验，与会人员观摩了党建示范点。"),
)


def _features() -> list[Article]:
    prefixes = dict(TENANTS)
    return [Article(key=f"{tenant}:{int(fid[1:])}", tenant=tenant,
                    org_code=f"{prefixes[tenant]}900", org_name="中共某某委员会", title=title,
                    summary=summary, body=body,
                    published_at=T0 + dt.timedelta(hours=(i * 131) % 2000))
            for i, (fid, tenant, title, summary, body) in enumerate(FEATURES)]


ARTICLES: tuple[Article, ...] = tuple(_generated() + _features())
FEATURE_KEYS = {fid: f"{tenant}:{int(fid[1:])}" for fid, tenant, *_rest in FEATURES}


def _f(*ids: str) -> tuple[str, ...]:
    return tuple(FEATURE_KEYS[i] for i in ids)


def _g(term: str, tenant: str, *towns: int) -> tuple[str, ...]:
    return tuple(generated_key(term, tenant, town) for town in towns)


#: query -> the content keys that must be among the first five results.
QUERIES: dict[str, tuple[str, ...]] = {
    # a topic's own word (multi-character words that jieba splits in two or keeps whole)
    "三会一课": _f("F01", "F02"),
    "主题党日": _f("F03", "F04"),
    "党费": _f("F05", "F06"),
    "志愿服务": _f("F07", "F08"),
    "乡村振兴": _f("F09", "F10"),
    "组织关系转接": _f("F11", "F12"),
    "党史学习教育": _f("F13", "F14"),
    "基层治理": _f("F15", "F16"),
    "发展党员": _f("F17", "F18"),
    "民主评议": _f("F19", "F20"),
    "廉政教育": _f("F21", "F22"),
    "防汛": _f("F23", "F24"),
    "人居环境整治": _f("F25", "F26"),
    "结对帮扶": _f("F27", "F28"),
    # part of a longer word, or a longer compound than the text has
    "组织关系": _f("F11", "F12"),
    "转接": _f("F11", "F12"),
    "党日": _f("F03", "F04"),
    "党建": _f("F38", "F33", "F15"),
    "民主评议党员": _f("F19", "F20"),
    # two words
    "志愿服务 社区": _f("F07", "F08"),
    "乡村振兴 产业": _f("F09", "F10"),
    "防汛 应急演练": _f("F23"),
    "党费 标准": _f("F06"),
    "廉政教育 基地": _f("F21"),
    "结对帮扶 困难群众": _f("F27", "F28"),
    "人居环境整治 垃圾分类": _f("F25"),
    "发展党员 公示": _f("F18"),
    "党史学习教育 读书班": _f("F14"),
    "三会一课 记录": _f("F01"),
    "基层治理 网格化": _f("F16"),
    "七一 慰问老党员": _f("F37"),
    # a term of the title with a term of the body
    "党员冬训 安全生产": _f("F32"),
    "智慧党建 手机": _f("F33"),
    # place names: districts, towns (some unknown to jieba's dictionary), with or without
    # a space before the topic
    "大渡口区 党费": _g("党费", "dadukou", 0, 1, 2, 3),
    "大渡口区党费": _g("党费", "dadukou", 0, 1, 2, 3),
    "白市驿镇 乡村振兴": _g("乡村振兴", "jiulongpo", 2),
    "歌乐山 廉政教育": (*_f("F22"), *_g("廉政教育", "shapingba", 2)),
    "跳磴镇": _f("F29", "F30"),
    "跳磴镇 党员": _f("F29", "F30"),
    "金鳌山": _f("F30"),
    "磁器口": _f("F35"),
    "铜官区 冬训": _f("F32"),
    "缙云山": _f("F31"),
    # rare terms, a number, a question
    "古树名木": _f("F30", "F31"),
    "两优一先": _f("F34"),
    "非物质文化遗产": _f("F35"),
    "川剧": _f("F35"),
    "12371": _f("F36"),
    "如何办理流动党员组织关系转接手续": _f("F11"),
}
