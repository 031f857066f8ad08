"""What the simulated SMS say: verification codes, bank notices, marketing, opt-outs.

Texts follow the shapes Chinese A2P traffic really has: a 【signature】 first, a code
with a validity period, "回T退订" on marketing; English variants for international apps.

>>> import numpy as np
>>> rng = np.random.default_rng(3)
>>> t = otp_texts(rng, np.array([0, 1]), np.array([483920, 120003]))
>>> all(("483920" in t[0], "120003" in t[1]))
True
>>> is_unsubscribe("TD"), is_unsubscribe("好的")
(True, False)
"""

from __future__ import annotations

import numpy as np

# (Chinese signature, English name) of platforms sending verification codes.
PLATFORMS = (("淘宝", "Taobao"), ("京东", "JD"), ("美团", "Meituan"), ("拼多多", "Pinduoduo"),
             ("支付宝", "Alipay"), ("微信", "WeChat"), ("抖音", "Douyin"), ("滴滴出行", "DiDi"),
             ("饿了么", "Ele.me"), ("小红书", "RED"), ("携程", "Trip.com"), ("哔哩哔哩", "bilibili"),
             ("网易", "NetEase"), ("百度", "Baidu"), ("快手", "Kuaishou"), ("12306", "12306"),
             ("闲鱼", "Xianyu"), ("唯品会", "VIP.com"), ("苏宁易购", "Suning"), ("中国移动", "CMCC"),
             ("顺丰速运", "SF Express"), ("高德地图", "Amap"), ("知乎", "Zhihu"), ("QQ", "QQ"))
OTP_TEMPLATES_CN = ("【{p}】您的验证码是{c}，5分钟内有效，请勿泄露给他人。",
                    "【{p}】验证码{c}，用于登录验证，10分钟内有效。如非本人操作，请忽略本短信。",
                    "【{p}】{c}（动态验证码），请在页面中输入完成验证。")
OTP_TEMPLATES_EN = ("Your verification code is {c}. It expires in 5 minutes.",
                    "[{e}] Your code is {c}. Do not share it with anyone.")
# Bank hotlines that also send account notices.
BANKS = (("95588", "工商银行"), ("95533", "建设银行"), ("95599", "农业银行"), ("95566", "中国银行"),
         ("95555", "招商银行"), ("95559", "交通银行"))
BANK_TEMPLATE = ("【{b}】您尾号{tail}的账户{mm}月{dd}日{hh}:{mi}{op}人民币{amt}.00元，"
                 "余额{bal}.{cents:02d}元。")
BRANDS = ("天猫", "京东超市", "拼多多", "唯品会", "屈臣氏", "肯德基", "麦当劳", "瑞幸咖啡", "携程旅行",
          "苏宁易购", "国美", "盒马", "叮咚买菜", "美团外卖", "中国联通", "中国电信")
MARKETING_CN = ("【{b}】双11狂欢价，全场低至5折，满300减50，戳 t.cn/A6{x} 抢购，回T退订",
                "【{b}】会员日专享：新品8折+免运费，仅限今天！详情 dwz.cn/{x} 退订回T",
                "【{b}】您有一张20元无门槛券即将过期，速用 t.cn/R{x} 回TD退订")
MARKETING_EN = ("[{b}] Flash sale: up to 50% off today only. Details at t.cn/A6{x}. "
                "Reply TD to unsubscribe",)
FESTIVAL_CN = ("【{b}】冬至快乐！感谢您一直以来的支持，节日特惠已开启，戳 t.cn/F{x}",
               "【{b}】元旦献礼，全场满减，祝您节日快乐！t.cn/F{x}")
UNSUBSCRIBE_WORDS = ("T", "TD", "N", "Q", "QXFS", "退订")
CONFIRM_CN = "【{b}】您已成功退订，将不再收到本业务推送短信。"
CONFIRM_EN = "[{b}] You have been unsubscribed and will receive no further messages."
P2P = ("好的", "收到", "晚上回家吃饭吗？", "我到楼下了", "明天几点见？", "在开会，等会回你", "OK",
       "妈，我这周末回来", "快递到了吗", "谢谢！", "路上堵车，晚点到", "已转账，请查收")


def otp_texts(rng: np.random.Generator, platform: np.ndarray, codes: np.ndarray) -> list[str]:
    """One verification-code SMS per (platform index, 6-digit code)."""
    lang = rng.random(len(platform)) < 0.12
    tmpl_cn = rng.integers(0, len(OTP_TEMPLATES_CN), len(platform))
    tmpl_en = rng.integers(0, len(OTP_TEMPLATES_EN), len(platform))
    out = []
    for p, c, en, tc, te in zip(platform.tolist(), codes.tolist(), lang.tolist(),
                                tmpl_cn.tolist(), tmpl_en.tolist(), strict=True):
        cn_name, en_name = PLATFORMS[p]
        code = f"{c:06d}"
        if en:
            out.append(OTP_TEMPLATES_EN[te].format(c=code, e=en_name))
        else:
            out.append(OTP_TEMPLATES_CN[tc].format(c=code, p=cn_name))
    return out


def bank_text(rng: np.random.Generator, bank: int, local_time: tuple[int, int, int, int]) -> str:
    mm, dd, hh, mi = local_time
    return BANK_TEMPLATE.format(b=BANKS[bank][1], tail=int(rng.integers(1000, 9999)), mm=mm,
                                dd=dd, hh=f"{hh:02d}", mi=f"{mi:02d}",
                                op="支出" if rng.random() < 0.7 else "存入",
                                amt=int(rng.lognormal(5, 1.2)) + 1,
                                bal=int(rng.lognormal(9, 1.5)), cents=int(rng.integers(0, 100)))


def marketing_texts(rng: np.random.Generator, brand: np.ndarray) -> list[str]:
    en = rng.random(len(brand)) < 0.1
    tmpl = rng.integers(0, len(MARKETING_CN), len(brand))
    links = rng.integers(10_000, 99_999, len(brand))
    return [(MARKETING_EN[0] if e else MARKETING_CN[t]).format(b=BRANDS[b], x=x)
            for b, e, t, x in zip(brand.tolist(), en.tolist(), tmpl.tolist(), links.tolist(),
                                  strict=True)]


def is_unsubscribe(text: str) -> bool:
    return text.strip().upper() in UNSUBSCRIBE_WORDS
