"""The demo node: two Chongqing district tenants with realistic, deterministic data.

Everything is written through the services (`create_tenant`, `create_org`, `create_member`,
`change_stage`, `add_officer`, `create_account`, `create_grant`, ...), so the codes, the dated
history behind each activity card and the audit log are the real thing. The data comes from a
seeded `random.Random` and a plan made before anything is written: the same day gives the same
people, which keeps tests stable.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import os
import random
import secrets
from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from flask import Flask

from node import migrate
from node.accounts.models import Account
from node.accounts.services import create_account, load_principal
from node.audit.recording import acting_as
from node.auth.models import OAuthClient
from node.auth.principal import Principal
from node.auth.services import create_client
from node.content.models import Article, ArticleKind, ArticleStatus, Visibility
from node.content.services import create_article, publish_article
from node.db import db
from node.dues import services as dues
from node.dues.models import DuesLine, PaymentMethod, ReductionKind
from node.dues.rules import DuesCategory
from node.grants.models import Grant, Role
from node.grants.services import create_grant
from node.meetings.models import LOCAL_TZ, AttendanceStatus, CheckinMethod, MeetingKind
from node.meetings.models import Attendance as MeetingAttendance
from node.meetings.services import hold_meeting, schedule_meeting
from node.members.models import Education, Member, Stage, Status
from node.members.services import change_stage, change_status, create_member, move_member
from node.orgs.models import OfficerPosition, Org, OrgKind
from node.orgs.services import add_officer, create_org, update_org
from node.reports import services as reports
from node.settings import NodeSettings
from node.tenants.models import Tenant
from node.tenants.scoping import all_tenants, tenant_context
from node.tenants.services import create_tenant, root_org
from shared.db import transaction
from shared.identity import normalize_national_id

#: Every demo account has this password (it satisfies the 10-character minimum).
DEMO_PASSWORD = "demo-password-1"
RANDOM_SEED = 12371
ENV_FILE = "node.env"
DB_FILE = "node.db"
#: The API client of each tenant: its secret exists only in clear at creation, so the demo
#: keeps it in the instance folder to print it again on later runs.
CLIENTS_FILE = "api-clients.txt"
DEMO_CLIENT_NAME = "demo-api"
#: The secret the demo node shares with its sandbox payment provider.
PAY_SECRET_FILE = "pay-sandbox.secret"


# --------------------------------------------------------------------------- the tenants' shape


@dataclasses.dataclass(frozen=True)
class OrgSpec:
    """One organization of the demo tree; branches carry the profile of their members."""

    kind: OrgKind
    name: str
    short_name: str | None = None
    description: str | None = None
    #: Who the members are: organ, community, village, enterprise, joint or retired.
    profile: str | None = None
    size: int = 0
    #: Work unit of the members (defaults by profile).
    unit: str | None = None
    village: bool = False
    key: str | None = None
    children: tuple[OrgSpec, ...] = ()


def committee(name: str, **kw: Any) -> OrgSpec:
    return OrgSpec(OrgKind.committee, name, **kw)


def general_branch(name: str, **kw: Any) -> OrgSpec:
    return OrgSpec(OrgKind.general_branch, name, **kw)


def branch(name: str, profile: str, size: int, *groups: str, **kw: Any) -> OrgSpec:
    kids = tuple(OrgSpec(OrgKind.group, g) for g in groups)
    return OrgSpec(OrgKind.branch, name, profile=profile, size=size, children=kids, **kw)


def joint_branch(name: str, size: int, **kw: Any) -> OrgSpec:
    return OrgSpec(OrgKind.joint_branch, name, profile="joint", size=size, **kw)


@dataclasses.dataclass(frozen=True)
class TenantSpec:
    slug: str
    name: str
    code_prefix: str
    district: str
    description: str
    roads: tuple[str, ...]
    community_units: tuple[str, ...]
    joint_units: tuple[str, ...]
    tree: tuple[OrgSpec, ...]
    #: Keys of the orgs the committee administrator and the branch secretary administer.
    committee_key: str
    branch_key: str
    #: The city (and province) in front of the district in addresses.
    city: str = "重庆市"
    #: Short name of the root organization (default: derived from `name`).
    short_name: str | None = None
    #: Published public articles and notices (they go to the hub's feed).
    articles: tuple[ArticleSpec, ...] = ()


@dataclasses.dataclass(frozen=True)
class ArticleSpec:
    """A published public item of the demo: the hub's feed and search show it."""

    kind: ArticleKind
    title: str
    summary: str
    body: str
    #: Key of the publishing org (None: the tenant's root organization).
    org_key: str | None = None


_RETIRED_DESC = "按照就近就便原则组织离退休党员参加组织生活，定期开展走访慰问和政策宣讲。"

DADUKOU = TenantSpec(
    slug="dadukou",
    name="中共重庆市大渡口区委员会",
    code_prefix="500104",
    district="大渡口区",
    description="大渡口区委自2004年起建设开放统一的“12371”党建信息平台，探索党员分布式管理，"
                "推进网上组织关系接转、网上组织生活和网上党费管理，实现党员队伍精确管理。",
    roads=("春晖路", "松青路", "钢花路", "文体路", "锦霞街", "翠柏路", "新山村路", "八桥路",
           "双山路", "大堰路"),
    community_units=("大渡口区人民医院", "重庆市第三十七中学校", "个体经营", "钢花路农贸市场",
                     "重庆渝兴物业管理有限公司", "大渡口区图书馆", "社区卫生服务中心"),
    joint_units=("重庆钢花印务有限公司", "重庆新山村物流有限公司", "重庆跃渝机电设备有限公司",
                 "重庆锦霞餐饮管理有限公司", "重庆双山建材有限公司"),
    articles=(
        ArticleSpec(
            ArticleKind.article, "大渡口区“12371”党建信息平台实现党员分布式管理",
            "区委组织部依托党建信息平台推进网上组织关系接转、网上组织生活和网上党费管理。",
            "今年以来，大渡口区委组织部依托“12371”党建信息平台，把全区党组织和党员信息全部纳入"
            "平台管理，实现组织关系网上接转、“三会一课”网上记录、党费网上收缴。平台按照"
            "“谁主管、谁维护”的原则，由各基层党委负责本单位数据的及时更新，区委组织部定期"
            "开展数据质量核查。下一步，全区将进一步深化基层党建信息化建设，推动党员教育管理"
            "更加精准高效。"),
        ArticleSpec(
            ArticleKind.article, "钢花路社区党员认领网格服务岗",
            "钢花路社区第一党支部组织党员亮身份、认领网格服务岗，参与社区治理和志愿服务。",
            "在本月主题党日活动中，钢花路社区第一党支部组织在职党员和离退休党员认领网格"
            "服务岗42个，围绕老旧小区改造、垃圾分类、独居老人关爱等开展志愿服务。支部书记"
            "表示，将把党建引领基层治理落实到每一栋楼、每一户居民。",
            org_key="ganghua-1"),
        ArticleSpec(
            ArticleKind.notice, "关于开展年度党员民主评议工作的通知",
            "各基层党组织于本季度内完成党员民主评议，评议结果报区委组织部备案。",
            "各基层党委（党工委）、党总支、党支部：根据党章和党内有关规定，现就开展年度党员"
            "民主评议工作通知如下：一、评议对象为全体正式党员和预备党员；二、评议采取个人"
            "自评、党员互评、民主测评和组织评定相结合的方式；三、评议结果请于季度末前报区委"
            "组织部组织科备案。"),
    ),
    committee_key="xinshancun",
    branch_key="ganghua-1",
    tree=(
        committee(
            "中共重庆市大渡口区级机关工作委员会", short_name="区级机关工委",
            description="领导区级机关各部门党组织，推动机关党建与业务工作深度融合。",
            children=(
                branch("区委组织部机关党支部", "organ", 14, unit="中共重庆市大渡口区委组织部"),
                branch("区财政局机关党支部", "organ", 12, unit="重庆市大渡口区财政局"),
                branch("区卫生健康委机关党支部", "organ", 10,
                       unit="重庆市大渡口区卫生健康委员会"),
            )),
        committee(
            "中共重庆市大渡口区新山村街道工作委员会", short_name="新山村街道党工委",
            key="xinshancun",
            description="下辖社区党委、社区党支部、机关党支部和非公企业联合党支部，"
                        "以网格化方式联系服务辖区党员和群众。",
            children=(
                branch("新山村街道机关党支部", "organ", 16, unit="大渡口区新山村街道办事处"),
                committee(
                    "中共新山村街道钢花路社区委员会", short_name="钢花路社区党委", village=True,
                    description="设两个在职党员支部和一个离退休党支部，组织党员在社区开展"
                                "志愿服务和“主题党日”活动。",
                    children=(
                        branch("钢花路社区第一党支部", "community", 24,
                               "第一党小组", "第二党小组", village=True, key="ganghua-1",
                               description="每月固定日开展主题党日，党员亮身份、"
                                           "认领网格服务岗。"),
                        branch("钢花路社区第二党支部", "community", 20, village=True),
                        branch("钢花路社区离退休党支部", "retired", 22, village=True,
                               description=_RETIRED_DESC),
                    )),
                branch("新山村社区党支部", "community", 18, "第一党小组", village=True),
                joint_branch("新山村街道非公企业联合党支部", 9,
                             description="由辖区5家非公有制企业联合组建，覆盖暂不具备单独组建"
                                         "条件的小微企业党员。"),
            )),
        committee(
            "中共重庆市大渡口区跃进村街道工作委员会", short_name="跃进村街道党工委",
            children=(
                branch("跃进村街道机关党支部", "organ", 12, unit="大渡口区跃进村街道办事处"),
                branch("松青路社区党支部", "community", 18, village=True),
                branch("跃进村街道离退休干部党支部", "retired", 16,
                       unit="大渡口区跃进村街道办事处"),
            )),
        committee(
            "中共重庆市大渡口区八桥镇委员会", short_name="八桥镇党委",
            children=(
                branch("八桥镇机关党支部", "organ", 12, unit="大渡口区八桥镇人民政府"),
                branch("柏木村党支部", "village", 14, village=True, unit="八桥镇柏木村村民委员会"),
            )),
        committee(
            "中共重庆大渡口钢城集团有限公司委员会", short_name="钢城集团党委",
            description="坚持党建与生产经营深度融合，设生产运营党总支、机关党支部和离退休党支部。",
            children=(
                general_branch(
                    "中共钢城集团生产运营总支部委员会", short_name="生产运营党总支",
                    children=(
                        branch("炼钢车间党支部", "enterprise", 26, "甲班党小组", "乙班党小组",
                               unit="重庆大渡口钢城集团有限公司炼钢厂"),
                        branch("轧钢车间党支部", "enterprise", 22,
                               unit="重庆大渡口钢城集团有限公司轧钢厂"),
                    )),
                branch("钢城集团机关党支部", "enterprise", 14,
                       unit="重庆大渡口钢城集团有限公司"),
                branch("钢城集团离退休党支部", "retired", 20,
                       unit="重庆大渡口钢城集团有限公司", description=_RETIRED_DESC),
            )),
    ),
)

JIULONGPO = TenantSpec(
    slug="jiulongpo",
    name="中共重庆市九龙坡区委员会",
    code_prefix="500107",
    district="九龙坡区",
    description="九龙坡区委领导全区街道、镇、机关和企业党组织，依托党建信息平台记录"
                "“三会一课”、主题党日和党员学习积分，推动组织生活管理线上线下同步。",
    roads=("杨家坪正街", "西郊路", "直港大道", "谢家湾正街", "黄桷坪正街", "石杨路",
           "白市驿正街", "西彭大道", "兴胜路", "渝州路"),
    community_units=("九龙坡区人民医院", "重庆市杨家坪中学", "个体经营", "杨家坪步行街商户",
                     "重庆龙湾物业服务有限公司", "九龙坡区文化馆", "社区卫生服务中心"),
    joint_units=("重庆坪山电子商务有限公司", "重庆西郊广告传媒有限公司", "重庆直港餐饮有限公司",
                 "重庆谢家湾文化发展有限公司", "重庆龙腾汽配有限公司"),
    articles=(
        ArticleSpec(
            ArticleKind.article, "九龙坡区推行“党建+网格”治理模式",
            "杨家坪街道在商圈和老旧小区设立党员先锋岗，以党建引领网格化治理。",
            "杨家坪街道党工委将辖区划分为86个网格，每个网格由一名党员担任网格长，组织党员"
            "参与矛盾纠纷调解、安全隐患排查和便民服务。今年以来，网格党员共走访居民3200余户，"
            "协调解决群众急难愁盼问题260余件，基层党建与基层治理实现同频共振。",
            org_key="yangjiaping"),
        ArticleSpec(
            ArticleKind.article, "直港大道社区党员参与老旧小区改造议事",
            "直港大道社区第一党支部党员认领楼栋，组织居民协商老旧小区改造方案。",
            "直港大道社区第一党支部组织党员逐楼栋召开议事会，听取居民对加装电梯、管网改造"
            "和停车位规划的意见建议，形成改造方案报街道审定。党员带头签字、带头出资，带动"
            "居民共同参与小区改造。",
            org_key="zhigang-1"),
        ArticleSpec(
            ArticleKind.notice, "关于做好党费收缴工作的通知",
            "请各党支部按月收缴党费，并通过党建信息平台及时登记。",
            "各基层党组织：请严格按照党费收缴、使用和管理的有关规定，按月足额收缴党费，"
            "在党建信息平台登记收缴情况，每季度末前完成上缴。流动党员可通过平台网上交纳党费。"),
    ),
    committee_key="yangjiaping",
    branch_key="zhigang-1",
    tree=(
        committee(
            "中共重庆市九龙坡区级机关工作委员会", short_name="区级机关工委",
            children=(
                branch("区委组织部机关党支部", "organ", 12, unit="中共重庆市九龙坡区委组织部"),
                branch("区发展改革委机关党支部", "organ", 10,
                       unit="重庆市九龙坡区发展和改革委员会"),
            )),
        committee(
            "中共重庆市九龙坡区杨家坪街道工作委员会", short_name="杨家坪街道党工委",
            key="yangjiaping",
            description="推行“党建+网格”治理，在商圈和老旧小区设立党员先锋岗。",
            children=(
                branch("杨家坪街道机关党支部", "organ", 14, unit="九龙坡区杨家坪街道办事处"),
                committee(
                    "中共杨家坪街道直港大道社区委员会", short_name="直港大道社区党委",
                    village=True,
                    children=(
                        branch("直港大道社区第一党支部", "community", 22,
                               "第一党小组", "第二党小组", village=True, key="zhigang-1",
                               description="党员认领楼栋，参与老旧小区改造议事和邻里互助。"),
                        branch("直港大道社区第二党支部", "community", 18, village=True),
                        branch("直港大道社区离退休党支部", "retired", 18, village=True,
                               description=_RETIRED_DESC),
                    )),
                branch("西郊路社区党支部", "community", 16, village=True),
                joint_branch("杨家坪商圈非公企业联合党支部", 10,
                             description="覆盖商圈内5家小微企业的党员，每月集中开展组织生活。"),
            )),
        committee(
            "中共重庆市九龙坡区黄桷坪街道工作委员会", short_name="黄桷坪街道党工委",
            children=(
                branch("黄桷坪街道机关党支部", "organ", 10, unit="九龙坡区黄桷坪街道办事处"),
                branch("黄桷坪正街社区党支部", "community", 18, "第一党小组", village=True),
                branch("黄桷坪街道离退休党支部", "retired", 14, unit="九龙坡区黄桷坪街道办事处"),
            )),
        committee(
            "中共重庆市九龙坡区白市驿镇委员会", short_name="白市驿镇党委",
            children=(
                branch("白市驿镇机关党支部", "organ", 10, unit="九龙坡区白市驿镇人民政府"),
                branch("海龙村党支部", "village", 16, village=True,
                       unit="白市驿镇海龙村村民委员会"),
                joint_branch("白市驿镇农民专业合作社联合党支部", 8),
            )),
        committee(
            "中共重庆西彭铝业有限公司委员会", short_name="西彭铝业党委",
            description="以“党建引领、安全生产、技术攻关”为主线，设生产党总支和机关、"
                        "离退休党支部。",
            children=(
                general_branch(
                    "中共西彭铝业生产总支部委员会", short_name="生产党总支",
                    children=(
                        branch("熔铸车间党支部", "enterprise", 24, "早班党小组", "中班党小组",
                               unit="重庆西彭铝业有限公司熔铸厂"),
                        branch("轧制车间党支部", "enterprise", 20,
                               unit="重庆西彭铝业有限公司轧制厂"),
                    )),
                branch("西彭铝业机关党支部", "enterprise", 12, unit="重庆西彭铝业有限公司"),
                branch("西彭铝业离退休党支部", "retired", 16, unit="重庆西彭铝业有限公司",
                       description=_RETIRED_DESC),
            )),
    ),
)


TONGLING = TenantSpec(
    slug="tongguan",
    name="中共铜陵市铜官区委员会",
    short_name="铜官区委",
    code_prefix="340705",
    city="安徽省铜陵市",
    district="铜官区",
    description="铜官区委领导全区街道、机关和企业党组织，以“铜都先锋”党建品牌为抓手，"
                "推动城市基层党建与社区治理、企业发展深度融合。",
    roads=("长江西路", "义安大道", "石城路", "淮河路", "北京西路", "铜官大道", "人民路",
           "杨家山路"),
    community_units=("铜陵市人民医院", "铜陵市第一中学", "个体经营", "铜官区图书馆",
                     "铜陵市安居物业服务有限公司", "社区卫生服务中心"),
    joint_units=("铜陵铜都电子商务有限公司", "铜陵石城餐饮管理有限公司", "铜陵长江广告有限公司",
                 "铜陵义安物流有限公司"),
    committee_key="xinjian",
    branch_key="changjiang-1",
    articles=(
        ArticleSpec(
            ArticleKind.article, "铜官区打造“铜都先锋”城市基层党建品牌",
            "铜官区以街道党工委为龙头、社区党委为主体，推动党建资源在网格中整合。",
            "铜官区坚持把党的领导贯穿基层治理全过程，在全区社区推行“党建+网格+服务”模式，"
            "组织机关党员到社区报到、认领服务项目。今年以来，全区党员到社区报到2100余人次，"
            "开展志愿服务活动460余场，“铜都先锋”城市基层党建品牌影响力不断提升。",
            org_key="xinjian"),
        ArticleSpec(
            ArticleKind.article, "长江社区党支部开展“党员进楼栋”活动",
            "长江社区第一党支部党员走进楼栋，收集居民诉求，帮助解决生活难题。",
            "长江社区第一党支部组织党员分组走进辖区楼栋，开展政策宣讲、安全检查和邻里"
            "调解，收集居民诉求58条，已解决51条。支部将“党员进楼栋”作为主题党日的固定"
            "内容，每月开展一次。",
            org_key="changjiang-1"),
        ArticleSpec(
            ArticleKind.notice, "关于开展“三会一课”规范化建设的通知",
            "各党支部对照清单规范“三会一课”，在党建信息平台如实记录组织生活。",
            "各基层党组织：为进一步提高组织生活质量，区委组织部决定在全区开展“三会一课”"
            "规范化建设。请各党支部对照规范清单，按时召开支部党员大会、支部委员会和党小组会，"
            "按时上好党课，并在党建信息平台如实记录。"),
    ),
    tree=(
        committee(
            "中共铜陵市铜官区级机关工作委员会", short_name="区级机关工委",
            children=(
                branch("区委组织部机关党支部", "organ", 12, unit="中共铜陵市铜官区委组织部"),
                branch("区人力资源和社会保障局机关党支部", "organ", 10,
                       unit="铜陵市铜官区人力资源和社会保障局"),
            )),
        committee(
            "中共铜陵市铜官区新建街道工作委员会", short_name="新建街道党工委", key="xinjian",
            description="以网格化方式联系服务辖区党员和群众，组织在职党员到社区报到。",
            children=(
                branch("新建街道机关党支部", "organ", 12, unit="铜官区新建街道办事处"),
                committee(
                    "中共新建街道长江社区委员会", short_name="长江社区党委", village=True,
                    children=(
                        branch("长江社区第一党支部", "community", 20,
                               "第一党小组", "第二党小组", village=True, key="changjiang-1",
                               description="党员认领楼栋，每月开展“党员进楼栋”主题党日。"),
                        branch("长江社区离退休党支部", "retired", 18, village=True,
                               description=_RETIRED_DESC),
                    )),
                joint_branch("新建街道非公企业联合党支部", 8,
                             description="覆盖辖区4家小微企业的党员，每月集中开展组织生活。"),
            )),
        committee(
            "中共铜陵有色金属冶炼有限公司委员会", short_name="有色冶炼党委",
            description="坚持党建引领安全生产和技术攻关，设冶炼车间党支部和离退休党支部。",
            children=(
                branch("冶炼车间党支部", "enterprise", 22, "甲班党小组", "乙班党小组",
                       unit="铜陵有色金属冶炼有限公司冶炼车间"),
                branch("有色冶炼离退休党支部", "retired", 16,
                       unit="铜陵有色金属冶炼有限公司", description=_RETIRED_DESC),
            )),
    ),
)

#: The tenants of the node-only demo (`partynet node demo`).
TENANTS: tuple[TenantSpec, ...] = (DADUKOU, JIULONGPO)
#: Every demo tenant, by slug (the demo network puts Tongling on a second node).
ALL_TENANTS: dict[str, TenantSpec] = {t.slug: t for t in (DADUKOU, JIULONGPO, TONGLING)}


@dataclasses.dataclass(frozen=True)
class AccountSpec:
    username: str
    display_name: str
    role: Role
    #: Where the grant sits: "root", "committee", "branch".
    scope: str
    #: Which member the account belongs to: None, "secretary", "member".
    member: str | None = None


ACCOUNTS: tuple[AccountSpec, ...] = (
    AccountSpec("admin", "admin", Role.tenant_admin, "root"),
    AccountSpec("committee", "街道党工委党建办", Role.org_admin, "committee"),
    AccountSpec("secretary", "支部书记", Role.org_admin, "branch", member="secretary"),
    AccountSpec("viewer", "区委组织部（查阅）", Role.org_viewer, "root"),
    AccountSpec("member", "党员", Role.member, "branch", member="member"),
)


# --------------------------------------------------------------------------- people


_SURNAMES = ("王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘蒋蔡余"
             "杜叶程苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏付方邹熊秦邱江尹雷龙陶贺毛向冉牟")
_SURNAME_WEIGHTS = [1 / (i + 6) for i in range(len(_SURNAMES))]
_GIVEN = {
    ("male", "old"): "建国 国庆 建华 志强 国强 德明 光荣 正华 家明 永福 学文 春生 文华 卫东 "
                     "建军 长生 保国 明亮 福全 世平",
    ("female", "old"): "秀英 桂英 玉兰 淑华 秀兰 桂芳 翠华 凤英 玉珍 素芬 春梅 秀珍 丽华 红梅 "
                       "淑珍 德碧 素琼",
    ("male", "mid"): "伟 强 军 勇 斌 杰 涛 明 刚 平 辉 鹏 华 波 磊 超 峰 健 林 俊 海 东 宏 亮 "
                     "志勇 建平 晓东 小龙 海涛 永刚 德勇 红兵",
    ("female", "mid"): "芳 娜 敏 静 丽 艳 娟 霞 燕 红 梅 莉 萍 玲 琴 英 慧 晓燕 春燕 小红 丽娟 "
                       "海燕 雪梅 玉梅 晓琴",
    ("male", "young"): "浩 宇 鑫 帅 博 凯 轩 睿 晨 阳 子豪 浩然 宇航 俊杰 梓轩 一鸣 思远 嘉豪 "
                       "天宇 明轩 家乐 皓文",
    ("female", "young"): "婷 雪 琳 洁 颖 倩 晶 欣 怡 悦 璐 瑶 佳 丹 雨婷 欣怡 梓涵 思雨 雨萱 "
                         "佳怡 诗涵 梦瑶 可馨",
}
_ETHNICITIES = (("汉族", 940), ("土家族", 40), ("苗族", 10), ("回族", 5), ("满族", 5))
_EDUCATION: dict[str, tuple[tuple[Education, int], ...]] = {
    "organ": ((Education.associate, 12), (Education.bachelor, 58), (Education.master, 27),
              (Education.doctorate, 3)),
    "community": ((Education.junior_secondary, 6), (Education.senior_secondary, 20),
                  (Education.vocational, 14), (Education.associate, 30),
                  (Education.bachelor, 30)),
    "village": ((Education.primary, 10), (Education.junior_secondary, 40),
                (Education.senior_secondary, 30), (Education.vocational, 10),
                (Education.associate, 10)),
    "enterprise": ((Education.senior_secondary, 8), (Education.vocational, 20),
                   (Education.associate, 30), (Education.bachelor, 34), (Education.master, 8)),
    "joint": ((Education.senior_secondary, 15), (Education.associate, 30),
              (Education.bachelor, 45), (Education.master, 10)),
    "retired": ((Education.primary, 8), (Education.junior_secondary, 30),
                (Education.senior_secondary, 30), (Education.vocational, 14),
                (Education.associate, 10), (Education.bachelor, 8)),
}
_OCCUPATIONS = {
    "organ": ("公务员", "公务员", "公务员", "事业单位管理人员", "专业技术人员"),
    "community": ("社区工作者", "个体经营者", "教师", "医生", "护士", "自由职业者", "快递员",
                  "物业管理员", "退休人员"),
    "village": ("农民", "农民", "农民", "村干部", "养殖户", "农业合作社社员"),
    "enterprise": ("工程师", "技术员", "技术员", "生产工人", "生产工人", "班组长", "管理人员",
                   "安全员", "销售人员"),
    "joint": ("企业管理人员", "会计", "销售人员", "设计师", "程序员", "厨师"),
    "retired": ("离退休人员",),
}
#: Age at application (low, high) by profile; most apply within eight years of `low`.
_APPLICATION_AGE = {"organ": (22, 35), "enterprise": (20, 40), "joint": (22, 40),
                    "community": (18, 45), "village": (20, 50), "retired": (22, 40)}
#: Share of each pipeline stage in a working branch; retired branches have full members only.
_PIPELINE_SHARE = 0.22
_PIPELINE = (Stage.applicant, Stage.activist, Stage.candidate, Stage.probationary)
_STATUS_WEIGHTS = ((Status.active, 900), (Status.floating, 45), (Status.lost_contact, 12),
                   (Status.suspended, 6), (Status.kept, 15), (Status.left, 8))
#: Civil servants do not drift away; retirees are not waiting for a first job.
_PLAUSIBLE_STATUSES = {"organ": {Status.active, Status.left},
                       "retired": set(Status) - {Status.kept, Status.floating}}
_STATUS_REASONS = {
    Status.floating: ("外出务工（广东省深圳市），持流动党员活动证参加组织生活",
                      "外出经商（浙江省义乌市），与支部保持联系"),
    Status.lost_contact: ("连续6个月无法取得联系",),
    Status.suspended: ("失去联系满6个月，经支部大会讨论停止党籍",),
    Status.kept: ("高校毕业尚未落实工作单位，组织关系暂留",),
    Status.left: ("本人申请退党，支部大会讨论同意",),
    Status.active: ("恢复正常",),
}


@dataclasses.dataclass
class PersonPlan:
    name: str
    gender: str
    national_id: str
    birth_date: dt.date
    ethnicity: str
    education: Education
    #: The pipeline, in order, from the application: (stage, date it began).
    stages: list[tuple[Stage, dt.date]]
    status: Status = Status.active
    status_on: dt.date | None = None
    status_reason: str | None = None
    phone: str | None = None
    address: str | None = None
    work_unit: str | None = None
    occupation: str | None = None
    #: Index (in the tenant's branch list) of the branch the person joined first, and when
    #: they moved to their current branch.
    moved_from: int | None = None
    moved_on: dt.date | None = None

    @property
    def stage(self) -> Stage:
        return self.stages[-1][0]


@dataclasses.dataclass
class OfficerPlan:
    position: OfficerPosition
    person: int  # index in the branch's people
    term_start: dt.date
    term_end: dt.date | None = None


@dataclasses.dataclass
class BranchPlan:
    index: int  # position in the tenant's list of branches
    spec: OrgSpec
    path: tuple[int, ...]  # position in the tree, to find the created org
    people: list[PersonPlan]
    officers: list[OfficerPlan]
    group_leaders: list[int]  # one person index per party group


def _years_before(day: dt.date, years: int) -> dt.date:
    try:
        return day.replace(year=day.year - years)
    except ValueError:  # 29 February
        return day.replace(year=day.year - years, day=28)


class Planner:
    """Makes the people of one tenant; pure (no database), driven by one seeded RNG."""

    def __init__(self, spec: TenantSpec, rng: random.Random, today: dt.date) -> None:
        self.spec, self.rng, self.today = spec, rng, today
        self.region = spec.code_prefix[:6]
        self.used_ids: set[str] = set()

    def days(self, low: int, high: int) -> dt.timedelta:
        return dt.timedelta(days=self.rng.randint(low, high))

    def weighted(self, pairs: tuple[tuple[Any, int], ...]) -> Any:
        values, weights = zip(*pairs, strict=True)
        return self.rng.choices(values, weights)[0]

    def name(self, gender: str, born: dt.date) -> str:
        era = "old" if born.year < 1965 else "mid" if born.year < 1990 else "young"
        surname = self.rng.choices(_SURNAMES, _SURNAME_WEIGHTS)[0]
        return surname + self.rng.choice(_GIVEN[(gender, era)].split())

    def national_id(self, born: dt.date, gender: str) -> str:
        """GB 11643: region, birth date, a sequence whose parity is the gender, check digit."""
        while True:
            seq = self.rng.randrange(0, 1000)
            if (seq % 2 == 1) != (gender == "male"):
                seq = (seq + 1) % 1000
            national_id = _with_check_digit(f"{self.region}{born:%Y%m%d}{seq:03d}")
            if national_id not in self.used_ids:
                self.used_ids.add(national_id)
                return national_id

    def timeline(self, stage: Stage, profile: str) -> list[tuple[Stage, dt.date]]:
        """Dates of every step up to `stage`, with the national minimum intervals respected."""
        spans = [self.days(190, 400),  # applicant -> activist: at least 6 months
                 self.days(370, 600),  # activist -> candidate: at least a year
                 self.days(45, 240),  # candidate -> probationary: review, training, assembly
                 self.days(366, 366) if self.rng.random() > 0.08  # probation: a year ...
                 else self.days(366 + 183, 366 + 365)]  # ... or extended by 6-12 months
        steps = _PIPELINE.index(stage) if stage in _PIPELINE else len(_PIPELINE)
        recent = {Stage.applicant: (15, 170), Stage.activist: (20, 340),
                  Stage.candidate: (20, 330), Stage.probationary: (20, 350)}
        if stage in recent:
            current = self.today - self.days(*recent[stage])
        elif profile == "retired":
            current = self.today - self.days(26 * 365, 50 * 365)
        else:
            years = self.rng.betavariate(1.2, 2.6) * 34 + 0.2
            current = self.today - dt.timedelta(days=int(years * 365))
        dates = [current]
        for span in reversed(spans[:steps]):
            dates.insert(0, dates[0] - span)
        return list(zip((*_PIPELINE, Stage.full), dates, strict=False))

    def person(self, stage: Stage, profile: str, unit: str | None, street: str) -> PersonPlan:
        rng = self.rng
        stages = self.timeline(stage, profile)
        applied = stages[0][1]
        low, high = _APPLICATION_AGE[profile]
        age_at_application = rng.randint(low, low + 8) if rng.random() < 0.7 \
            else rng.randint(low, high)
        born = _years_before(applied, age_at_application) - self.days(1, 360)
        gender = "male" if rng.random() < (0.62 if profile in ("enterprise", "village") else 0.5) \
            else "female"
        work_unit = unit or {
            "community": rng.choice(self.spec.community_units),
            "joint": rng.choice(self.spec.joint_units),
        }.get(profile)
        return PersonPlan(
            name=self.name(gender, born), gender=gender,
            national_id=self.national_id(born, gender), birth_date=born,
            ethnicity=self.weighted(_ETHNICITIES),
            education=_plausible(self.weighted(_EDUCATION[profile]), born, self.today),
            stages=stages,
            phone=f"1{rng.choice('35789')}{rng.randrange(10**9):09d}",
            address=f"{self.spec.city}{self.spec.district}{street}{rng.choice(self.spec.roads)}"
                    f"{rng.randint(1, 260)}号{rng.randint(1, 12)}栋{rng.randint(1, 4)}单元"
                    f"{rng.randint(1, 32)}-{rng.randint(1, 8)}",
            work_unit=(f"（退休）{unit or '原单位'}" if profile == "retired" else work_unit),
            occupation=rng.choice(_OCCUPATIONS[profile]),
        )

    def status(self, person: PersonPlan, profile: str, forced: Status | None = None) -> None:
        status = forced or self.weighted(_STATUS_WEIGHTS)
        if forced is None and status not in _PLAUSIBLE_STATUSES.get(profile, set(Status)):
            status = Status.active
        if status == Status.active:
            return
        last = person.stages[-1][1]
        gap = (self.today - last).days
        person.status = status
        person.status_on = last + dt.timedelta(days=self.rng.randint(min(10, gap), max(10, gap)))
        person.status_on = min(person.status_on, self.today)
        person.status_reason = self.rng.choice(_STATUS_REASONS[status])


def _plausible(education: Education, born: dt.date, today: dt.date) -> Education:
    """No master's degree at 20: cap the level by age."""
    age = (today - born).days // 365
    order = list(Education)
    for below, top in ((21, Education.senior_secondary), (22, Education.associate),
                       (24, Education.bachelor), (27, Education.master)):
        if age < below and order.index(education) > order.index(top):
            return top
    return education


def _with_check_digit(first17: str) -> str:
    weights = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
    total = sum(int(d) * w for d, w in zip(first17, weights, strict=True))
    return normalize_national_id(first17 + "10X98765432"[total % 11])


def _walk(specs: tuple[OrgSpec, ...], path: tuple[int, ...] = ()
          ) -> Iterator[tuple[tuple[int, ...], OrgSpec]]:
    for i, spec in enumerate(specs):
        yield (*path, i), spec
        yield from _walk(spec.children, (*path, i))


def _street(spec: TenantSpec, path: tuple[int, ...]) -> str:
    top = spec.tree[path[0]].short_name or ""
    return top.removesuffix("党工委").removesuffix("党委") if "街道" in top or "镇" in top else ""


#: Fewest people in a branch of a scaled-down (`small`) demo, and the size of the branch of
#: the secretary and member accounts there (a secretary, group leaders, a plain member).
_MIN_SCALED_SIZE = 5
_ACCOUNTS_BRANCH_SCALED_SIZE = 14


def plan_tenant(spec: TenantSpec, rng: random.Random, today: dt.date, *, scale: float = 1.0
                ) -> list[BranchPlan]:
    """Every branch's people, officers and party-group leaders; no database needed.

    `scale` below 1 shrinks every branch (to at least 5 people; 14 for the branch of the
    secretary and member accounts): a small, fast demo for tests.
    """
    planner = Planner(spec, rng, today)
    plans: list[BranchPlan] = []
    for path, org in _walk(spec.tree):
        if org.profile is None:
            continue
        if scale >= 1:
            size = org.size
        elif org.key == spec.branch_key:
            size = min(org.size, _ACCOUNTS_BRANCH_SCALED_SIZE)
        else:
            size = max(_MIN_SCALED_SIZE, round(org.size * scale))
        stages = [Stage.full] * size
        if org.profile != "retired":
            pipeline = max(1, round(size * _PIPELINE_SHARE))
            offset = rng.randrange(len(_PIPELINE))
            for i in range(pipeline):
                stages[size - 1 - i] = _PIPELINE[(offset + i) % len(_PIPELINE)]
            rng.shuffle(stages)
        people = [planner.person(stage, org.profile, org.unit, _street(spec, path))
                  for stage in stages]
        plans.append(BranchPlan(len(plans), org, path, people, [], []))
    _assign_statuses(planner, plans)
    _assign_moves(planner, plans)
    for plan in plans:
        _assign_officers(planner, plan)
    return plans


def _assign_statuses(planner: Planner, plans: list[BranchPlan]) -> None:
    """Mostly active; every status but transfer-out (set only by a transfer) appears."""
    candidates = []
    for plan in plans:
        for person in plan.people:
            if person.stage in (Stage.full, Stage.probationary):
                planner.status(person, plan.spec.profile or "")
                if plan.spec.profile not in ("retired", "organ") and person.stage == Stage.full:
                    candidates.append((plan, person))
    present = {p.status for plan in plans for p in plan.people}
    for status in (Status.floating, Status.lost_contact, Status.suspended, Status.kept,
                   Status.left):
        if status not in present:
            plan, person = planner.rng.choice([c for c in candidates
                                               if c[1].status == Status.active])
            planner.status(person, plan.spec.profile or "", forced=status)


def _assign_moves(planner: Planner, plans: list[BranchPlan]) -> None:
    """A few members changed branch inside the tenant, so their cards show an org history."""
    rng = planner.rng
    working = [i for i, plan in enumerate(plans) if plan.spec.profile != "retired"]
    for i in working:
        for person in plans[i].people:
            if person.stage == Stage.full and person.status == Status.active \
                    and rng.random() < 0.04:
                start = person.stages[0][1] + dt.timedelta(days=30)
                end = planner.today - dt.timedelta(days=20)
                if start >= end:
                    continue
                person.moved_from = rng.choice([j for j in working if j != i])
                person.moved_on = start + dt.timedelta(days=rng.randint(0, (end - start).days))


def _assign_officers(planner: Planner, plan: BranchPlan) -> None:
    """A secretary; a committee of 3 or 5 from 7 full members; a leader per party group."""
    rng = planner.rng
    term_days = (5 if plan.spec.village else 3) * 365
    start = planner.today - planner.days(30, term_days - 120)  # no term overdue yet
    former_start = start - dt.timedelta(days=term_days)

    def full_members_since(day: dt.date) -> list[int]:
        return [i for i, p in enumerate(plan.people) if p.stage == Stage.full
                and p.status == Status.active and p.stages[-1][1] <= day]

    eligible = full_members_since(start) or full_members_since(planner.today)
    rng.shuffle(eligible)
    full = len(full_members_since(planner.today))
    positions = [OfficerPosition.secretary]
    if full >= 7:
        positions += [OfficerPosition.organization, OfficerPosition.propaganda]
        if full >= 20:
            positions += [OfficerPosition.deputy_secretary, OfficerPosition.discipline]
    for position, person in zip(positions, eligible, strict=False):
        plan.officers.append(OfficerPlan(position, person, start))
    serving = {o.person for o in plan.officers}
    former = [i for i in full_members_since(former_start) if i not in serving]
    if former and rng.random() < 0.4:  # the previous secretary, term ended
        plan.officers.append(OfficerPlan(OfficerPosition.secretary, rng.choice(former),
                                         former_start, start - dt.timedelta(days=1)))
    groups = [c for c in plan.spec.children if c.kind == OrgKind.group]
    rest = eligible[len(positions):] or eligible
    plan.group_leaders = [rest[i % len(rest)] for i in range(len(groups))]


# --------------------------------------------------------------------------- writing it


@dataclasses.dataclass(frozen=True)
class DemoAccount:
    username: str
    password: str
    role: Role
    org_name: str
    member_name: str | None


@dataclasses.dataclass(frozen=True)
class TenantSummary:
    created: bool  # seeded by this run (False: an earlier run's data)
    slug: str
    name: str
    code_prefix: str
    orgs: int
    members: int
    stages: dict[str, int]
    statuses: dict[str, int]
    accounts: list[DemoAccount]
    client_id: str | None = None
    client_secret: str | None = None  # known when created now, or kept by the instance
    #: Published public articles and notices: what the hub's feed holds of the tenant.
    public_articles: int = 0


def seed(today: dt.date | None = None, *, log: Callable[[str], None] = lambda _: None,
         tenants: tuple[TenantSpec, ...] = TENANTS, scale: float = 1.0) -> list[TenantSummary]:
    """Create each demo tenant that does not exist yet (one transaction each), then describe.

    `scale` < 1 seeds smaller branches (see `plan_tenant`); the articles are the same.
    """
    today = today or dt.date.today()
    summaries = []
    for spec in tenants:
        with all_tenants():
            exists = db.session.scalar(sa.select(Tenant.id).where(Tenant.slug == spec.slug))
        if exists is None:
            log(f"seeding {spec.slug} ({spec.name}) ...")
            rng = random.Random(f"{RANDOM_SEED}:{spec.slug}")
            plans = plan_tenant(spec, rng, today, scale=scale)
            with acting_as("demo"), transaction(db):
                secret = _write_tenant(spec, plans, today)
            summaries.append(dataclasses.replace(describe(spec, created=True),
                                                 client_secret=secret))
        else:
            log(f"{spec.slug} exists; reusing its data")
            summaries.append(describe(spec))
    return summaries


def _write_tenant(spec: TenantSpec, plans: list[BranchPlan], today: dt.date) -> str:
    """Write one tenant; return the secret of its API client."""
    tenant = create_tenant(slug=spec.slug, name=spec.name, code_prefix=spec.code_prefix,
                           admin_username="admin", admin_password=DEMO_PASSWORD,
                           hosts=[demo_host(spec.slug)])
    with tenant_context(tenant.id):
        admin = db.session.scalars(sa.select(Account).where(Account.username == "admin")).one()
        principal = load_principal(admin)
        root = root_org(tenant)
        update_org(principal, root, {"description": spec.description,
                                     "public_description": spec.description,
                                     "short_name": spec.short_name
                                     or spec.name.removeprefix("中共重庆市")
                                     .replace("委员会", "委"),
                                     "founded_on": dt.date(1950, 1, 1)})
        orgs = _write_orgs(principal, spec, root, today)
        branch_orgs = [orgs[plan.path] for plan in plans]
        members = [_write_people(principal, tenant, plan, branch_orgs) for plan in plans]
        for plan, org, people in zip(plans, branch_orgs, members, strict=True):
            _write_officers(principal, plan, org, people, orgs)
        _write_committee_officers(principal, spec, root, orgs, plans, members, today)
        _write_accounts(principal, spec, root, orgs, plans, members)
        _write_articles(principal, spec, tenant, root, orgs)
        _write_meetings(principal, spec, plans, branch_orgs, orgs, members, today)
        _write_dues(principal, tenant, root, plans, members, today)
        for back in (3, 2, 1):  # the members' monthly reports of the last three months
            reports.generate(tenant, dues.add_months(dues.month_of(today), -back), today=today)
        return _write_api_client(principal, tenant, root)


def _write_articles(principal: Principal, spec: TenantSpec, tenant: Tenant, root: Org,
                    orgs: dict[tuple[int, ...], Org]) -> None:
    """Publish the tenant's public items: each is queued for the hub's feed (the outbox)."""
    for item in spec.articles:
        org = orgs[_key_path(spec, item.org_key)] if item.org_key else root
        article = create_article(principal, {
            "org_id": org.id, "kind": item.kind, "title": item.title, "summary": item.summary,
            "body": item.body, "visibility": Visibility.public})
        publish_article(principal, article, tenant)


_EXCUSES = ("出差", "病假", "值班", "外出学习", "照顾家人")
_TITLES = {
    MeetingKind.theme_day: "{month}月主题党日：学习贯彻党的创新理论",
    MeetingKind.member_assembly: "{quarter}季度支部党员大会",
    MeetingKind.committee_meeting: "{month}月支部委员会会议",
    MeetingKind.party_lecture: "{quarter}季度专题党课",
    MeetingKind.group_meeting: "{month}月党小组会",
}


def _write_meetings(principal: Principal, spec: TenantSpec, plans: list[BranchPlan],
                    branch_orgs: list[Org], orgs: dict[tuple[int, ...], Org],
                    members: list[list[Member]], today: dt.date) -> None:
    """The organizational life of the last four months: theme days (10th), committee meetings
    (5th, where there is a committee), group meetings (15th), an assembly and a lecture each
    quarter; most branches keep the cadence, some miss meetings, one has gone quiet (the
    compliance dashboard flags it). Attendance is mostly present, with leave and absences.
    The branch of the demo accounts has a theme day coming up next week."""
    rng = random.Random(f"{RANDOM_SEED}:{spec.slug}:meetings")
    first = (today.replace(day=1) - dt.timedelta(days=95)).replace(day=1)
    months = []
    day = first
    while day <= today:
        months.append((day.year, day.month))
        day = (day + dt.timedelta(days=32)).replace(day=1)
    account_branch = _key_path(spec, spec.branch_key)
    committee_path = _key_path(spec, spec.committee_key)
    # one branch of the demo committee's with nothing recent
    quiet = [p.index for p in plans if p.path[:len(committee_path)] == committee_path
             and p.path != account_branch][-1]
    marks: list[dict[str, Any]] = []
    for plan, org, people in zip(plans, branch_orgs, members, strict=True):
        diligence = 1.0 if plan.path == account_branch else rng.uniform(0.55, 1.0)
        committee = sum(1 for o in plan.officers if o.term_end is None) >= 3
        groups = [orgs[(*plan.path, i)] for i, c in enumerate(plan.spec.children)
                  if c.kind == OrgKind.group]
        party = [m for m in people if m.stage in (Stage.probationary, Stage.full)
                 and m.status in (Status.active, Status.floating)]
        for year, month in months:
            if plan.index == quiet and (year, month) > months[0]:
                continue
            quarter = (month - 1) // 3 + 1
            wanted: list[tuple[MeetingKind, Org, int, int, list[int]]] = [
                (MeetingKind.theme_day, org, 10, 9, [])]
            if committee:
                wanted.append((MeetingKind.committee_meeting, org, 5, 19, []))
            if month % 3 == 2:
                wanted.append((MeetingKind.member_assembly, org, 20, 19, []))
            if month % 3 == 1:
                wanted.append((MeetingKind.party_lecture, org, 25, 15, []))
            for i, group in enumerate(groups):
                share = [m.id for j, m in enumerate(party) if j % len(groups) == i]
                if share:
                    wanted.append((MeetingKind.group_meeting, group, 15, 19, share))
            for kind, holder, day_of_month, hour, named in wanted:
                starts_day = dt.date(year, month, day_of_month)
                if starts_day >= today or rng.random() > diligence:
                    continue
                starts = dt.datetime(year, month, day_of_month, hour, tzinfo=LOCAL_TZ)
                meeting = _demo_meeting(principal, holder, kind, starts, named, quarter, rng)
                hold_meeting(principal, meeting, now=starts + dt.timedelta(hours=2))
                ids = db.session.execute(sa.select(MeetingAttendance.id).where(
                    MeetingAttendance.meeting_id == meeting.id)).scalars().all()
                for row_id in ids:
                    draw = rng.random()
                    if draw < 0.84:
                        marks.append({"id": row_id, "status": AttendanceStatus.present,
                                      "method": CheckinMethod.code,
                                      "checked_in_at": starts - dt.timedelta(minutes=5)})
                    elif draw < 0.93:
                        marks.append({"id": row_id, "status": AttendanceStatus.excused,
                                      "reason": rng.choice(_EXCUSES)})
                    else:
                        marks.append({"id": row_id, "status": AttendanceStatus.absent})
    if marks:
        keys = {"id", "status", "reason", "method", "checked_in_at"}
        db.session.execute(sa.update(MeetingAttendance), [
            {key: mark.get(key) for key in keys} for mark in marks])
    branch = orgs[account_branch]
    upcoming = today + dt.timedelta(days=7)
    _demo_meeting(principal, branch, MeetingKind.theme_day,
                  dt.datetime(upcoming.year, upcoming.month, upcoming.day, 9, tzinfo=LOCAL_TZ),
                  [], (upcoming.month - 1) // 3 + 1, rng, scheduled_on=today)


def _demo_meeting(principal: Principal, org: Org, kind: MeetingKind, starts: dt.datetime,
                  named: list[int], quarter: int, rng: random.Random,
                  scheduled_on: dt.date | None = None) -> Any:
    hours = 2.5 if kind == MeetingKind.theme_day else 2
    created = (dt.datetime.combine(scheduled_on, dt.time(9), tzinfo=LOCAL_TZ) if scheduled_on
               else starts - dt.timedelta(days=rng.randint(3, 10)))
    return schedule_meeting(principal, {
        "org_id": org.id, "kind": kind, "starts_at": starts,
        "ends_at": starts + dt.timedelta(hours=hours),
        "title": _TITLES.get(kind, "{month}月会议").format(month=starts.month, quarter=quarter),
        "place": "党员活动室" if kind != MeetingKind.party_lecture else "党群服务中心报告厅",
        "member_ids": named}, now=created)


#: Who pays how much, by the branch's profile: (category, share, lowest base, highest base).
_DUES_PROFILES: dict[str, tuple[tuple[DuesCategory, float, int, int], ...]] = {
    "organ": ((DuesCategory.salaried, 1.0, 5200, 12800),),
    "enterprise": ((DuesCategory.salaried, 0.85, 3600, 9800),
                   (DuesCategory.annual_salary, 0.15, 9000, 16000)),
    "joint": ((DuesCategory.salaried, 0.8, 3000, 8200), (DuesCategory.self_employed, 0.2,
                                                          2500, 9000)),
    "community": ((DuesCategory.salaried, 0.55, 2600, 7200),
                  (DuesCategory.self_employed, 0.2, 2000, 8000),
                  (DuesCategory.unemployed, 0.15, 0, 0), (DuesCategory.student, 0.1, 0, 0)),
    "village": ((DuesCategory.farmer, 1.0, 0, 0),),
    "retired": ((DuesCategory.retiree, 1.0, 2800, 7400),),
}


def _write_dues(principal: Principal, tenant: Tenant, root: Org, plans: list[BranchPlan],
                members: list[list[Member]], today: dt.date) -> None:
    """Dues since January of last year: each paying member assessed for both years, the lines
    generated, payments in half-years to the collector (cash or bank transfer); most members
    are paid up to last month, some a month or two behind, a few in arrears (reminded at 3
    months, their secretary alerted at 6). The member account owes this month (to pay it
    online), may pay a fellow member's dues (consent), and the past months are closed. Also
    large dues, an approved exemption and a pending hardship request."""
    rng = random.Random(f"{RANDOM_SEED}:{tenant.slug}:dues")
    current = dues.month_of(today)
    years = (today.year - 1, today.year)
    paying: list[Member] = []
    for plan, people in zip(plans, members, strict=True):
        for member in people:
            if member.stage not in dues.PAYING_STAGES or \
                    member.status not in dues.PAYING_STATUSES:
                continue
            draw, pick = rng.random(), None
            for pick in _DUES_PROFILES[plan.spec.profile or "community"]:
                draw -= pick[1]
                if draw <= 0:
                    break
            assert pick is not None
            category, _share, low, high = pick
            base = Decimal(rng.randrange(low, high + 1, 10)) if high else None
            for year in years:
                dues.assess(principal, member, tenant, year=year, category=category, base=base)
            paying.append(member)
    for year in years:
        dues.generate(principal, root, tenant, year=year)
    account = db.session.scalar(sa.select(Account.member_id).where(Account.username == "member"))
    lines: dict[int, list[dt.date]] = {}
    for member_id, month in db.session.execute(
            sa.select(DuesLine.member_id, DuesLine.month)
            .where(DuesLine.month < current).order_by(DuesLine.month)):
        lines.setdefault(member_id, []).append(month)
    for member in paying:
        draw = rng.random()
        lag = 0 if draw < 0.75 or member.id == account else rng.randint(1, 2) \
            if draw < 0.88 else rng.randint(3, 5) if draw < 0.96 else rng.randint(6, 9)
        owed = [m for m in lines.get(member.id, []) if m < dues.add_months(current, -lag)]
        method = PaymentMethod.cash if rng.random() < 0.5 else PaymentMethod.bank_transfer
        for start in range(0, len(owed), 6):
            chunk = owed[start:start + 6]
            day = chunk[-1].replace(day=rng.randint(5, 25))
            dues.record_payment(principal, member, tenant, months=chunk, method=method,
                                today=day, now=dt.datetime.combine(
                                    day, dt.time(10), dues.LOCAL_TZ).astimezone(dt.UTC))
    retired = [m for m in paying if m.admitted_on and m.admitted_on.year < 1980]
    if retired:
        day = dues.add_months(current, -1).replace(day=1)
        dues.record_large_payment(principal, rng.choice(retired), tenant,
                                  amount=Decimal("2000"), method=PaymentMethod.bank_transfer,
                                  note="自愿交纳大额党费",
                                  now=dt.datetime.combine(day, dt.time(10), dues.LOCAL_TZ))
    community = [m for m in paying if m.id != account]
    if len(community) >= 2:
        exempted, asked = rng.sample(community, 2)
        exemption = dues.request_reduction(
            principal, exempted, kind=ReductionKind.exempt, monthly_amount=None,
            from_month=current, to_month=dues.add_months(current, 5),
            reason="本人因重病长期住院、生活困难，申请免交党费；支部大会讨论同意。")
        dues.decide_reduction(principal, exemption, tenant, approve=True, note="同意免交半年")
        dues.request_reduction(principal, asked, kind=ReductionKind.reduced,
                               monthly_amount=Decimal("1.00"), from_month=current,
                               to_month=dues.add_months(current, 2),
                               reason="失业在家，收入微薄，申请少交党费；支部委员会讨论同意。")
    if account is not None:
        member = db.session.get(Member, account)
        fellow = next((m for m in paying if m.org_id == member.org_id and m.id != member.id),
                      None) if member is not None else None
        if member is not None and fellow is not None:
            dues.grant_consent(principal, fellow, payer_member_id=member.id)
    for n in range(dues.months_between(dt.date(years[0], 1, 1), current)):
        dues.close_month(principal, root, month=dues.add_months(dt.date(years[0], 1, 1), n),
                         today=today)


def start_pay_sandbox(instance: Path, host: str) -> dict[str, str]:
    """Serve the sandbox payment provider for the demo on a free port (a thread of this
    process: it ends with the demo); the settings that point the node at it. The shared
    secret is kept in the instance folder."""
    from node.dues.providers.sandbox import serve_sandbox

    instance.mkdir(parents=True, exist_ok=True)
    path = instance / PAY_SECRET_FILE
    if not path.exists():
        path.write_text(secrets.token_urlsafe(32), encoding="utf-8")
        path.chmod(0o600)
    secret = path.read_text(encoding="utf-8").strip()
    server, _thread = serve_sandbox(secret, host=host)
    return {"NODE_PAY_PROVIDER": "sandbox", "NODE_PAY_SANDBOX_SECRET": secret,
            "NODE_PAY_SANDBOX_URL": f"http://{host}:{server.port}"}


def _write_api_client(principal: Principal, tenant: Tenant, root: Org) -> str:
    """A client-credentials client whose service account administers the tenant's members."""
    issued = create_client(tenant=tenant, name=DEMO_CLIENT_NAME,
                           grant_types=["client_credentials"], scope="read write")
    assert issued.service_account is not None and issued.secret is not None
    create_grant(principal, account_id=issued.service_account.id, role=Role.org_admin,
                 org_id=root.id)
    return issued.secret


def _write_orgs(principal: Principal, spec: TenantSpec, root: Org, today: dt.date
                ) -> dict[tuple[int, ...], Org]:
    rng = random.Random(f"{RANDOM_SEED}:{spec.slug}:orgs")
    orgs: dict[tuple[int, ...], Org] = {}
    for path, org in _walk(spec.tree):
        parent = orgs[path[:-1]] if len(path) > 1 else root
        orgs[path] = create_org(principal, {
            "parent_id": parent.id, "kind": org.kind, "name": org.name,
            "short_name": org.short_name, "description": org.description,
            "public_description": org.description,
            "is_village_or_community": org.village,
            "founded_on": today - dt.timedelta(days=rng.randint(3 * 365, 40 * 365))})
    return orgs



def _write_people(principal: Principal, tenant: Tenant, plan: BranchPlan,
                  branch_orgs: list[Org]) -> list[Member]:
    """Register each person at application, then walk the pipeline with the real dates."""
    home = branch_orgs[plan.index]
    members = []
    for person in plan.people:
        first_org = home if person.moved_from is None else branch_orgs[person.moved_from]
        (first_stage, applied), *later = person.stages
        member = create_member(principal, tenant, {
            "org_id": first_org.id, "name": person.name, "national_id": person.national_id,
            "stage": first_stage, "stage_since": applied, "applied_on": applied,
            "ethnicity": person.ethnicity, "education": person.education,
            "phone": person.phone, "address": person.address, "work_unit": person.work_unit,
            "occupation": person.occupation})
        for stage, since in later:
            change_stage(principal, member, to_stage=stage, effective_on=since,
                         note=_STAGE_NOTES[stage])
        if person.moved_on is not None:
            move_member(principal, member, to_org_id=home.id, effective_on=person.moved_on,
                        reason="工作调动")
        if person.status_on is not None:
            change_status(principal, member, to_status=person.status,
                          effective_on=person.status_on, reason=person.status_reason)
        members.append(member)
    return members


_STAGE_NOTES = {
    Stage.activist: "党支部委员会研究确定为入党积极分子",
    Stage.candidate: "经政治审查，列为发展对象",
    Stage.probationary: "支部大会讨论通过，上级党委审批",
    Stage.full: "预备期满，支部大会讨论同意按期转正",
}


def _write_officers(principal: Principal, plan: BranchPlan, org: Org, people: list[Member],
                    orgs: dict[tuple[int, ...], Org]) -> None:
    for officer in plan.officers:
        add_officer(principal, org, {"member_id": people[officer.person].id,
                                     "position": officer.position,
                                     "term_start": officer.term_start,
                                     "term_end": officer.term_end})
    start = next((o.term_start for o in plan.officers if o.term_end is None), None)
    for i, person in enumerate(plan.group_leaders):
        add_officer(principal, orgs[(*plan.path, i)], {
            "member_id": people[person].id, "position": OfficerPosition.group_leader,
            "term_start": start or org.founded_on})


def _write_committee_officers(principal: Principal, spec: TenantSpec, root: Org,
                              orgs: dict[tuple[int, ...], Org], plans: list[BranchPlan],
                              members: list[list[Member]], today: dt.date) -> None:
    """Committee officers come from the staff branches (organ, enterprise) of their subtree."""
    rng = random.Random(f"{RANDOM_SEED}:{spec.slug}:committees")
    committees: list[tuple[tuple[int, ...], Org]] = [((), root)]
    committees += [(path, orgs[path]) for path, org in _walk(spec.tree)
                   if org.kind in (OrgKind.committee, OrgKind.general_branch)]
    for path, org in committees:
        pool = [member for plan, people in zip(plans, members, strict=True)
                if plan.path[:len(path)] == path and plan.spec.profile in ("organ", "enterprise")
                for member, person in zip(people, plan.people, strict=True)
                if person.stage == Stage.full and person.status == Status.active]
        if not pool:
            pool = [member for plan, people in zip(plans, members, strict=True)
                    if plan.path[:len(path)] == path for member in people
                    if member.stage == Stage.full and member.status == Status.active]
        positions = [OfficerPosition.secretary, OfficerPosition.deputy_secretary,
                     OfficerPosition.organization]
        if not path:
            positions += [OfficerPosition.propaganda, OfficerPosition.discipline]
        start = today - dt.timedelta(days=rng.randint(60, 900))
        pool = [m for m in pool if m.full_on and m.full_on <= start] or pool
        for position, member in zip(positions, rng.sample(pool, min(len(pool), len(positions))),
                                    strict=False):
            add_officer(principal, org, {"member_id": member.id, "position": position,
                                            "term_start": start})


def demo_host(slug: str) -> str:
    """The demo tenant's own host name: browsers resolve any `*.localhost` to this machine."""
    return f"{slug}.localhost"


def demo_email(username: str, slug: str) -> str:
    return f"{username}@{slug}.example.org"


def _key_path(spec: TenantSpec, key: str) -> tuple[int, ...]:
    return next(path for path, org in _walk(spec.tree) if org.key == key)


def _write_accounts(principal: Principal, spec: TenantSpec, root: Org,
                    orgs: dict[tuple[int, ...], Org], plans: list[BranchPlan],
                    members: list[list[Member]]) -> None:
    """Admin (made with the tenant), committee, secretary, viewer and member accounts."""
    branch_path = _key_path(spec, spec.branch_key)
    plan = next(p for p in plans if p.path == branch_path)
    people = members[plan.index]
    secretary = next(people[o.person] for o in plan.officers
                     if o.position == OfficerPosition.secretary and o.term_end is None)
    officers = {o.person for o in plan.officers} | set(plan.group_leaders)
    member = next(people[i] for i, p in enumerate(plan.people)
                  if i not in officers and p.moved_from is None and p.stage == Stage.full
                  and p.status == Status.active)
    scopes = {"root": root, "committee": orgs[_key_path(spec, spec.committee_key)],
              "branch": orgs[branch_path]}
    linked = {"secretary": secretary, "member": member}
    for account_spec in ACCOUNTS:
        if account_spec.username == "admin":
            admin = db.session.scalars(sa.select(Account).where(Account.username == "admin")).one()
            admin.display_name = "组织部管理员"
            admin.email = demo_email("admin", spec.slug)
            continue
        person = linked.get(account_spec.member or "")
        account = create_account(
            principal, username=account_spec.username,
            display_name=person.name if person is not None else account_spec.display_name,
            password=DEMO_PASSWORD, member_id=person.id if person is not None else None,
            email=demo_email(account_spec.username, spec.slug))
        create_grant(principal, account_id=account.id, role=account_spec.role,
                     org_id=scopes[account_spec.scope].id)


def describe(spec: TenantSpec, *, created: bool = False) -> TenantSummary:
    """What the database holds for a demo tenant (also when an earlier run seeded it)."""
    with all_tenants():
        tenant = db.session.scalars(sa.select(Tenant).where(Tenant.slug == spec.slug)).one()
    with tenant_context(tenant.id):
        count = sa.func.count()
        orgs = db.session.scalar(sa.select(count).select_from(Org)) or 0
        stages = dict(db.session.execute(sa.select(Member.stage, count)
                                         .group_by(Member.stage)).all())
        statuses = dict(db.session.execute(sa.select(Member.status, count)
                                           .group_by(Member.status)).all())
        public_articles = db.session.scalar(sa.select(count).select_from(Article).where(
            Article.status == ArticleStatus.published,
            Article.visibility == Visibility.public)) or 0
        client_id = db.session.scalar(sa.select(OAuthClient.client_id).where(
            OAuthClient.tenant_id == tenant.id, OAuthClient.name == DEMO_CLIENT_NAME))
        accounts = []
        for account_spec in ACCOUNTS:
            row = db.session.execute(
                sa.select(Account, Grant.role, Org.name)
                .join(Grant, Grant.account_id == Account.id).join(Org, Org.id == Grant.org_id)
                .where(Account.username == account_spec.username)
                .order_by(Grant.id).limit(1)).one_or_none()
            if row is None:
                continue
            account, role, org_name = row
            member_name = db.session.scalar(sa.select(Member.name).where(
                Member.id == account.member_id)) if account.member_id else None
            accounts.append(DemoAccount(account.username, DEMO_PASSWORD, Role(role), org_name,
                                        member_name))
    return TenantSummary(
        created=created, slug=tenant.slug, name=tenant.name, code_prefix=tenant.code_prefix,
        orgs=orgs,
        members=sum(stages.values()),
        stages={Stage(k).value: v for k, v in stages.items()},
        statuses={Status(k).value: v for k, v in statuses.items()}, accounts=accounts,
        client_id=client_id, public_articles=public_articles)


# --------------------------------------------------------------------------- the instance


def read_env_file(path: Path) -> dict[str, str]:
    values = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if line and not line.startswith("#") and "=" in line:
            key, _, value = line.partition("=")
            values[key.strip()] = value.strip()
    return values


def _vendor_dir() -> Path | None:
    """The checkout's node_modules (installed by `make setup`), wherever the demo is run from."""
    candidate = Path(__file__).resolve().parent.parent / "node_modules"
    return candidate if candidate.is_dir() else None


def _env_text(instance: Path, base_url: str) -> str:
    # Standard base64: NodeSettings validates NODE_PII_KEY with the standard alphabet.
    import base64

    pii_key = base64.b64encode(os.urandom(32)).decode()
    lines = [
        "# partynet demo node: generated by `partynet node demo`. Development only:",
        "# fresh random secrets, SQLite, debug cookies. `partynet node demo --reset` starts over.",
        f"NODE_SECRET_KEY={secrets.token_urlsafe(32)}",
        f"NODE_PII_KEY={pii_key}",
        # The demo network's nodes share one (`partynet demo` passes it): the hub matches a
        # person across nodes by these hashes.
        "NODE_IDENTITY_HASH_KEY="
        + (os.environ.get("PARTYNET_DEMO_IDENTITY_HASH_KEY") or secrets.token_urlsafe(32)),
        f"NODE_DATABASE_URL=sqlite:///{instance / DB_FILE}",
        "NODE_DEBUG=true",
        "NODE_NODE_ID=node-demo",
        f"NODE_BASE_URL={base_url}",
    ]
    vendor = _vendor_dir()
    if vendor is not None:
        lines.append(f"NODE_VENDOR_DIR={vendor}")
    return "\n".join(lines) + "\n"


def prepare_instance(instance: Path, *, base_url: str, reset: bool = False,
                     settings: dict[str, str] | None = None) -> dict[str, str]:
    """Create the instance folder and its env file once; later runs keep the secrets.

    `settings` (NODE_* names) are written on every run, like the base URL: what the caller
    decides (the demo network's node id, bus and signing key), not secrets.
    `reset` deletes only what the demo made (env file and database), never the folder itself,
    so a mistyped `--instance` cannot wipe unrelated files.
    """
    instance = instance.resolve()
    if reset:
        for name in (ENV_FILE, DB_FILE, f"{DB_FILE}-wal", f"{DB_FILE}-shm", CLIENTS_FILE):
            (instance / name).unlink(missing_ok=True)
    instance.mkdir(parents=True, exist_ok=True)
    env_file = instance / ENV_FILE
    if not env_file.exists():
        env_file.write_text(_env_text(instance, base_url), encoding="utf-8")
        env_file.chmod(0o600)
    chosen = {"NODE_BASE_URL": base_url, **(settings or {})}
    lines = [line for line in env_file.read_text(encoding="utf-8").splitlines()
             if line.partition("=")[0].strip() not in chosen]
    lines += [f"{key}={value}" for key, value in chosen.items()]
    env_file.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return read_env_file(env_file)


def setup_database(instance: Path, log: Callable[[str], None] = lambda _: None, *,
                   tenants: tuple[TenantSpec, ...] = TENANTS, scale: float = 1.0
                   ) -> list[TenantSummary]:
    """Migrate to head, seed what is missing, remember the API client secrets."""
    assert db.engine is not None
    migrate.upgrade(db.engine)
    try:
        summaries = seed(log=log, tenants=tenants, scale=scale)
        seed_transfers(log)
    finally:
        db.session.remove()
    return _remember_client_secrets(instance.resolve() / CLIENTS_FILE, summaries)


def _remember_client_secrets(path: Path, summaries: list[TenantSummary]
                             ) -> list[TenantSummary]:
    known = {}
    if path.exists():
        for line in path.read_text(encoding="utf-8").splitlines():
            client_id, _, secret = line.partition(" ")
            known[client_id] = secret
    for summary in summaries:
        if summary.client_id and summary.client_secret:
            known[summary.client_id] = summary.client_secret
    path.write_text("".join(f"{k} {v}\n" for k, v in known.items()), encoding="utf-8")
    path.chmod(0o600)
    return [dataclasses.replace(s, client_secret=known.get(s.client_id or ""))
            for s in summaries]


def summary_json(app: Flask, summaries: list[TenantSummary], *, base_url: str,
                 node_id: str) -> dict[str, Any]:
    """What the demo network's launcher prints and waits for (`--summary-file`)."""
    return {"node_id": node_id, "base_url": base_url, "password": DEMO_PASSWORD, "tenants": [
        {"slug": s.slug, "name": s.name, "code_prefix": s.code_prefix, "orgs": s.orgs,
         "members": s.members, "public_articles": s.public_articles, "created": s.created,
         "login_path": login_path(app, s.slug),
         "accounts": [{"username": a.username, "role": a.role.value, "org_name": a.org_name,
                       "member_name": a.member_name} for a in s.accounts]}
        for s in summaries]}


def login_path(app: Flask, slug: str) -> str | None:
    """The tenant's sign-in page, if this build has one (`/t/<slug>/login`)."""
    for rule in app.url_map.iter_rules():
        if rule.rule.startswith("/t/<") and rule.rule.endswith("/login"):
            return "/t/" + slug + rule.rule[rule.rule.index(">") + 1:]
    return None


def _with_host(base_url: str, host: str) -> str:
    """`base_url` with another host name (same scheme and port)."""
    from urllib.parse import urlsplit

    parts = urlsplit(base_url)
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{host}{port}"


def banner(app: Flask, summaries: list[TenantSummary], *, base_url: str, instance: Path,
           seconds: float | None, serving: bool) -> str:
    settings: NodeSettings = app.extensions["node"]
    fresh = any(s.created for s in summaries)
    took = (f", seeded in {seconds:.1f} s" if fresh and seconds is not None
            else ", data from an earlier run (--reset starts over)")
    lines = [
        f"partynet demo node{took}",
        f"  instance      {instance.resolve()} ({settings.database_url.split(':')[0]})",
        f"  API docs      {base_url}/api/docs",
        f"  OpenAPI       {base_url}/api/openapi.json",
        f"  version       {base_url}/api/version",
        f"  health        {base_url}/healthz   readiness {base_url}/readyz",
        "",
        f"Demo accounts (password for all: {DEMO_PASSWORD}); usernames are per tenant.",
    ]
    for summary in summaries:
        stages = ", ".join(f"{summary.stages.get(s.value, 0)} {s.value}" for s in Stage)
        lines += ["", f"  {summary.name}  [{summary.slug}, code prefix {summary.code_prefix}]",
                  f"    {summary.orgs} organizations, {summary.members} members: {stages}",
                  "    statuses: " + ", ".join(f"{n} {status}"
                                               for status, n in summary.statuses.items())]
        lines.append(f"    public site: {base_url}/t/{summary.slug}/  or  "
                     f"{_with_host(base_url, demo_host(summary.slug))}/")
        path = login_path(app, summary.slug)
        if path:
            lines.append(f"    sign in: {base_url}{path}")
        for account in summary.accounts:
            who = f"  ({account.member_name})" if account.member_name else ""
            lines.append(f"    {account.username:<10} {account.role.value:<13}"
                         f"{account.org_name}{who}")
        if summary.client_id:
            secret = summary.client_secret or "<not kept: see `partynet node client create`>"
            lines += [f"    API client {summary.client_id} (org_admin of the whole tenant):",
                      f"      curl -u {summary.client_id}:{secret} "
                      f"-d grant_type=client_credentials {base_url}/oauth/token"]
    lines += ["",
              "With the access_token: `Authorization: Bearer <token>`, or Authorize at /api/docs.",
              "Ctrl-C stops the node." if serving else "Not serving (--no-serve)."]
    return "\n".join(lines)


# --- transfers of the organization relationship (组织关系转接) -----------------------------------

#: Every demo transfer gives this reason (how a later run knows they were made).
TRANSFER_REASON_MARK = "（演示）"


def _demo_code(spec: TenantSpec, key: str) -> str:
    """The unified code a demo org gets (the seeding creates the tree in order, each child
    the next code under its parent): known to other nodes without asking."""
    return spec.code_prefix + "".join(f"{i + 1:03d}" for i in _key_path(spec, key))


def _movable_members(org: Org, count: int) -> list[Member]:
    """Full members of `org` on the rolls, not officers, not linked to an account, not in a
    transfer yet: the last `count` by id (the same on every run)."""
    from node.transfers.models import Transfer

    busy = sa.select(Transfer.member_id).where(Transfer.member_id.is_not(None))
    linked = sa.select(Account.member_id).where(Account.member_id.is_not(None))
    from node.orgs.models import Officer

    officers = sa.select(Officer.member_id).where(Officer.member_id.is_not(None))
    return list(db.session.scalars(
        sa.select(Member).where(Member.org_id == org.id, Member.status == Status.active,
                                Member.stage == Stage.full, Member.id.not_in(busy),
                                Member.id.not_in(linked), Member.id.not_in(officers))
        .order_by(Member.id.desc()).limit(count)))


def _admin_principal() -> Principal:
    admin = db.session.scalars(sa.select(Account).where(Account.username == "admin")).one()
    return load_principal(admin)


def _has_demo_transfers(tenant: Tenant, *, remote: bool) -> bool:
    from node.transfers.models import Side, Transfer

    with tenant_context(tenant.id):
        stmt = sa.select(Transfer.id).where(Transfer.side == Side.out,
                                            Transfer.reason.endswith(TRANSFER_REASON_MARK))
        stmt = stmt.where((Transfer.to_node != Transfer.from_node) if remote
                          else (Transfer.to_node == Transfer.from_node))
        return db.session.scalar(stmt.limit(1)) is not None


def _send(tenant: Tenant, member: Member, to: TenantSpec, to_code: str, reason: str, *,
          approve_out: bool = True, approve_in: bool = False) -> None:
    """Apply (as the tenant's administrator, on the member's behalf) and, if asked, approve up
    the sending chain (the letter leaves) and down the receiving chain (the member arrives)."""
    from node.transfers import services as transfers
    from node.transfers.models import Side, State, Transfer

    with tenant_context(tenant.id):
        principal = _admin_principal()
        t = transfers.apply_transfer(
            principal, member_id=member.id, to_tenant=to.slug, to_org_code=to_code,
            reason=reason + TRANSFER_REASON_MARK)
        while approve_out and t.state in (State.applied, State.approving):
            t = transfers.approve(principal, t.id, note="同意转出")
        uid = t.uid
    if not approve_in:
        return
    with all_tenants():
        to_tenant = db.session.scalars(sa.select(Tenant).where(Tenant.slug == to.slug)).one()
    with tenant_context(to_tenant.id):
        principal = _admin_principal()
        incoming = db.session.scalars(sa.select(Transfer).where(
            Transfer.uid == uid, Transfer.side == Side.in_)).one()
        while incoming.state in (State.delivered, State.approving):
            incoming = transfers.approve(principal, incoming.id, note="同意接收")


def seed_transfers(log: Callable[[str], None] = lambda _: None) -> None:
    """Once: transfers between the demo tenants of this node, so that the transfer pages, the
    secretaries' inboxes and the printable letters have content.

    - 九龙坡区 approves transfers automatically (the tenant rule): the letters it sends and
      receives go through without anyone's click;
    - within 大渡口区: one done (closed, the member in another branch), one just applied for,
      waiting in the `secretary`'s inbox (the branch approves first);
    - 大渡口区 -> 九龙坡区: done (received automatically there);
    - 九龙坡区 -> 大渡口区: the letter delivered, waiting for the `committee`'s receiving
      approval (and a branch to be named).
    Transfers to and from the other node are `seed_cross_node_transfers` (they need the hub's
    directory)."""
    from node.transfers import services as transfers

    with all_tenants():
        here = {t.slug: t for t in db.session.scalars(sa.select(Tenant))}
    if DADUKOU.slug not in here:
        return
    dadukou = here[DADUKOU.slug]
    if _has_demo_transfers(dadukou, remote=False):
        return
    log("seeding transfers between the demo tenants ...")
    with acting_as("demo"), transaction(db):
        jiulongpo = here.get(JIULONGPO.slug)
        if jiulongpo is not None:
            transfers.configure_rules(jiulongpo, auto_approve=True)
        with tenant_context(dadukou.id):
            branch = db.session.scalars(sa.select(Org).where(
                Org.code == _demo_code(DADUKOU, DADUKOU.branch_key))).one()
            other = db.session.scalars(sa.select(Org).where(
                Org.kind == OrgKind.branch, Org.id != branch.id,
                Org.dissolved_on.is_(None)).order_by(Org.code)).first()
            assert other is not None
            leaving = _movable_members(branch, 1) + _movable_members(other, 2)
        if len(leaving) == 3:
            pending, done_here, to_jiulongpo = leaving
            _send(dadukou, pending, DADUKOU, other.code, "工作调动", approve_out=False)
            _send(dadukou, done_here, DADUKOU, branch.code, "居住地变更", approve_in=True)
            if jiulongpo is not None:
                _send(dadukou, to_jiulongpo, JIULONGPO,
                      _demo_code(JIULONGPO, JIULONGPO.branch_key), "工作调动到九龙坡区")
        if jiulongpo is not None:
            with tenant_context(jiulongpo.id):
                branch = db.session.scalars(sa.select(Org).where(
                    Org.code == _demo_code(JIULONGPO, JIULONGPO.branch_key))).one()
                movers = _movable_members(branch, 1)
            if movers:
                _send(jiulongpo, movers[0], DADUKOU, _demo_code(DADUKOU, DADUKOU.committee_key),
                      "随迁到大渡口区")


def seed_cross_node_transfers(log: Callable[[str], None] = lambda _: None) -> int:
    """Once, when the hub's directory names the other node's tenants: a letter from each demo
    tenant here to the other node. 大渡口区 -> 铜官区: delivered there, waiting for its
    administrators; 铜官区 -> 九龙坡区: received automatically (九龙坡区's rule), the receipt
    back. Returns how many were sent (0: done before, or the directory is not there yet)."""
    from node.transfers import carrier

    with all_tenants():
        here = {t.slug: t for t in db.session.scalars(sa.select(Tenant))}
    plans = {DADUKOU.slug: (TONGLING, TONGLING.code_prefix, "工作调动到铜陵市"),
             TONGLING.slug: (JIULONGPO, _demo_code(JIULONGPO, JIULONGPO.branch_key),
                             "返回重庆工作")}
    sent = 0
    for slug, (to, to_code, reason) in plans.items():
        tenant = here.get(slug)
        if tenant is None or _has_demo_transfers(tenant, remote=True):
            continue
        place = carrier.locate(db.session(), to.slug)
        if place is None or place.node == carrier.this_node():
            continue
        spec = ALL_TENANTS[slug]
        with acting_as("demo"), transaction(db):
            with tenant_context(tenant.id):
                branch = db.session.scalars(sa.select(Org).where(
                    Org.code == _demo_code(spec, spec.committee_key))).one()
                members = [m for org in db.session.scalars(sa.select(Org).where(
                    Org.code.startswith(branch.code), Org.kind == OrgKind.branch)
                    .order_by(Org.code.desc())) for m in _movable_members(org, 1)][:1]
            if not members:
                continue
            _send(tenant, members[0], to, to_code, reason)
        log(f"sent a transfer letter from {slug} to {to.slug} on {place.node}")
        sent += 1
    return sent
