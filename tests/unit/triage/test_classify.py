"""triage_message: categories from domain words, priority from the table, private never missed."""

from __future__ import annotations


import pytest

from intake.messages import InboundMessage, Triage
from intake.triage import Rules, load_rules, triage_message


@pytest.fixture(scope="module")
def rules() -> Rules:
    return load_rules()


def sms(text: str, rules: Rules) -> Triage:
    return triage_message(InboundMessage(channel="sms", sender="+8613900000000", text=text, new_text=text), rules)


def mail(subject: str, body: str, rules: Rules, text: str | None = None) -> Triage:
    msg = InboundMessage(channel="email", sender="a@example.com", subject=subject, text=text or body, new_text=body)
    return triage_message(msg, rules)


@pytest.mark.parametrize(
    "text, category",
    [
        ("pls help cant log in to my acct, forgot pwd", "account"),
        ("登不上了 验证码也收不到", "account"),
        ("提现没到账啊 都一周了", "payment"),
        ("refund pls, got charged twice for coins", "payment"),
        ("app keeps crashing after update, pls fix", "technical"),
        ("直播一直卡 转圈圈", "technical"),
        ("my vid got taken down for no reason, pls review", "content_review"),
        ("視頻審核不通過，申請複審", "content_review"),
        ("would be cool if u added a sleep timer", "feedback"),
        ("建议增加夜间模式", "feedback"),
        ("恭喜您获得免费领取资格，点击链接，退订回T", "other"),
        # probe23: the notification sound, as an elderly user says it
        ("以前她发视频我这边会响一下，现在提示音没了，我啥也没动", "technical"),
    ],
)
def test_sms_shorthand_and_everyday_words(text: str, category: str, rules: Rules) -> None:
    assert sms(text, rules).category == category


def voice(text: str, rules: Rules) -> Triage:
    return triage_message(InboundMessage(channel="voice", sender="+8613900000000", text=text, new_text=text), rules)


@pytest.mark.parametrize("text", [
    # probe25: money words in a clause that says the money is fine
    "The Withdraw page on the website shows NaN and the button stays grey. To be clear: my money is fine. "
    "The app shows the right balance and my last withdrawal arrived normally. It's only the web page that is broken.",
    "充值页面点了立即支付没有反应，点好几次了。钱没扣，就是页面卡住付不了，我是苹果手机",
])
def test_money_said_to_be_fine_does_not_make_a_bug_private(text: str, rules: Rules) -> None:
    triage = sms(text, rules)
    assert (triage.category, triage.private) == ("technical", False), triage.reasons


def test_the_notification_sound_gone_is_technical(rules: Rules) -> None:
    text = ("hello this is uh Margaret, my grandson put the app on my tablet and it used to make a little ding when "
            "he posted, and now it doesn't ding anymore, I didn't touch anything, how do I get the ding back")
    assert voice(text, rules).category == "technical", voice(text, rules).reasons


@pytest.mark.parametrize(
    "text, category",
    [
        # speech recognition's homophones (the fifth blind probe set): 风好 for 封号, "band" for
        # banned, "pale" for payout, 体现 for 提现
        ("喂 你好 那个 我的号 被风好了 就是 说我违规 今天一打开就说 风好 七天", "account"),
        ("yeah hi um my account got band this morning and uh it just says community guidelines", "account"),
        ("hi um my pale has not come through for October uh it is two weeks late", "payment"),
        ("喂 我那个 体现一直没到账 三天了", "payment"),
        ("那個 我的通知 都沒有跳出來 更新之後就這樣", "technical"),
        ("um the shop tab has disappeared from our profile completely please look at it", "technical"),
    ],
)
def test_voicemail_mishearings_keep_their_category(text: str, category: str, rules: Rules) -> None:
    assert voice(text, rules).category == category


@pytest.mark.parametrize(
    "text",
    [
        # probe sets 15 and 16: a content appeal in an account's words
        "Hi, uh, so I think my posts are being, like, shadow banned? My last, um, six videos aren't showing up on "
        "the For You page at all, the creator tools say \"limited reach\". My account isn't banned or anything, I can "
        "log in and post, it's just the reach. I'd like someone to review those videos.",
        "喂，你好呀，我想問下，我條片俾人落咗，話我違反社群守則，但係……嗯，條片只係我同隻狗仔行山咋喎，冇乜嘢問題㗎。想申訴，點樣做呢？",
    ],
)
def test_a_content_appeal_in_account_words_is_content_review(text: str, rules: Rules) -> None:
    assert voice(text, rules).category == "content_review"


@pytest.mark.parametrize(
    "text, priority",
    [
        ("someone is logged into my account right now and changing my password", "urgent"),
        ("有人正在登我的号，被盗了", "urgent"),
        ("unauthorized charges on my card for coins, please refund", "urgent"),
        ("广告账户被扣了5万元，请核查退款", "high"),  # money wrong, not stolen (LABELS.md)
        ("Our attorney will pursue legal action if the video is not reinstated", "urgent"),
        ("账号被封了，申诉", "normal"),  # no harm said (LABELS.md); ../shared/samples, older, says high
        ("my account got suspended this morning, I run my business on it", "high"),
        ("withdrawal from creator fund still hasn't arrived after 8 days", "high"),
        ("bought coins, balance still 0", "normal"),
        ("上传视频失败", "normal"),
        ("建议加个字体大小设置", "low"),
        ("人工客服几点下班", "low"),
        ("help", "normal"),
        ("我的抖币一直在扣！我什么都没买，刚刚又少了两千，快把钱包停掉", "urgent"),  # money being taken now (probe22)
        ("it keeps charging me for coins I didnt buy, 3 times today", "urgent"),
    ],
)
def test_priority_table(text: str, priority: str, rules: Rules) -> None:
    assert sms(text, rules).priority == priority


def test_department_follows_category(rules: Rules) -> None:
    triage = sms("提现没到账", rules)
    assert (triage.category, triage.department) == ("payment", "finance_support")


def test_private_for_every_account_and_payment_case(rules: Rules) -> None:
    triage = sms("bought coins, balance still 0", rules)
    assert triage.private and "category:payment" in triage.private_reasons
    triage = sms("forgot my password", rules)
    assert triage.private and "category:account" in triage.private_reasons


def test_private_for_sensitive_data_in_any_category(rules: Rules) -> None:
    triage = sms("上传视频失败 我的身份证 330106197911215961", rules)
    assert triage.category == "technical"
    assert triage.private and "pii:id" in triage.private_reasons
    assert "330106197911215961" not in triage.redacted_text


def test_private_for_takeover_even_in_a_suggestion(rules: Rules) -> None:
    triage = mail("功能建议", "上个月我的号被盗过，现在已经找回了，这次不需要处理账号问题。建议增加异地登录提醒。", rules)
    assert triage.category == "feedback"
    assert triage.private and "account_takeover" in triage.private_reasons


def test_phone_alone_is_not_private(rules: Rules) -> None:
    triage = sms("上传视频老是失败 我电话13588889999", rules)
    assert not triage.private
    assert "[PHONE]" in triage.redacted_text


def test_subject_weighs_more_than_body(rules: Rules) -> None:
    # body alone leans technical (one word), the subject says content review
    assert mail("视频被下架申诉", "昨晚发的，今天看不到了，是不是出错了", rules).category == "content_review"


def test_quoted_lines_and_signature_do_not_classify(rules: Rules) -> None:
    body = (
        "The app freezes on the home page since the last update.\n\n"
        "-- \nJane\nAccounts Payable\nCONFIDENTIALITY NOTICE: billing, payment and refund information\n"
        "> Your refund of coins and payout was processed\n"
    )
    triage = mail("App problem", body, rules)
    assert triage.category == "technical"


def test_reply_marker_cuts_quoted_history(rules: Rules) -> None:
    body = "Yes, please delete my account.\n\nOn Mon, Mar 17, 2025 Vidora Support wrote:\nrefund payout coins billing invoice"
    assert mail("Re: request", body, rules).category == "account"


def test_redacted_text_is_subject_and_new_text(rules: Rules) -> None:
    triage = mail("Call me 139 0123 4567", "card 4111 1111 1111 1111", rules, text="card 4111 1111 1111 1111\n> old")
    assert triage.redacted_text == "Call me [PHONE]\ncard [CARD]"
    assert {s.kind for s in triage.pii} == {"phone", "card"}


def test_sensitive_data_only_in_quoted_text_still_private(rules: Rules) -> None:
    triage = mail("thanks", "great, thanks", rules, text="great, thanks\n> my password: Secret123")
    assert triage.private and "pii:secret" in triage.private_reasons


@pytest.mark.parametrize("body, rest, reason", [
    # the second pass reads what follows the own words, and enough of their end for context
    ("Hi, please check the card ending below", "\n\n-- \nAnn\nmy card: 4111 1111 1111 1111", "pii:card"),
    ("我的新手机号已经换好了。" * 40 + "护照号码见签名", "\n\n王芳\n护照 E12345678", "pii:passport"),
    ("thanks " * 300, "\n\nOn Mon, Ann wrote:\n> the code is 482913", "pii:secret"),
])
def test_sensitive_data_after_the_own_words_still_private(body: str, rest: str, reason: str, rules: Rules) -> None:
    triage = mail("hello", body, rules, text=body + rest)
    assert reason in triage.private_reasons, triage.private_reasons


def test_a_reply_written_below_the_quote_is_read_whole(rules: Rules) -> None:
    """The own words do not begin the text: the whole text is read again, as before."""
    triage = mail("Re: payout", "ok", rules, text="> my password: Secret123\n\nok")
    assert "pii:secret" in triage.private_reasons


def test_empty_new_text_falls_back_to_text(rules: Rules) -> None:
    msg = InboundMessage(channel="email", sender="a@b.c", subject="", text="提现没到账", new_text="")
    assert triage_message(msg, rules).category == "payment"


def test_language_is_reported(rules: Rules) -> None:
    assert sms("app打不开, keeps crashing 一直闪退 please help me fix it", rules).language == "mixed"


def test_reasons_name_the_rules_that_hit(rules: Rules) -> None:
    triage = sms("提现没到账", rules)
    assert any(r.startswith("payment.withdrawal@body:") for r in triage.reasons)
    assert any(r.startswith("signal.payout_missing") for r in triage.reasons)


@pytest.mark.parametrize(
    "text",
    [
        "URGENT loan offer: instant loan up to $50,000, no credit check. Claim now",
        "Dear beneficiary, you are next of kin to USD 8.5 million in a fixed deposit account",
        "尊敬的客户：无抵押贷款，当天放款，详询加微信，退订回T",
        "专业账号买卖、解封服务，封号也能解，价格优惠",
        # probe20-22: promotion and invoice sellers, in a merchant's money and account words
        "您好，我们是网络推广，专业帮商家涨粉，一万粉只要九十九，还能帮您解封账号、提高提现额度。祝您生意兴隆",
        # probe23: phishing in the platform's name
        "【抖映安全中心】您的账户因涉嫌违规交易已被冻结，请于今日内登录 dy-safe.example.cn 填写银行卡信息解除冻结，逾期将永久封号。",
        "您好：本公司现可代开各地增值税专用发票、普通发票，点数优惠，可先验票后付款。有需要请加微信，打扰了，祝生意兴隆！",
    ],
)
def test_loan_scams_and_account_sellers_are_other_and_not_private(text: str, rules: Rules) -> None:
    triage = sms(text, rules)
    assert (triage.category, triage.private) == ("other", False), triage.reasons


@pytest.mark.parametrize(
    "subject, body",
    [
        # phishing that names an account, a balance, a payout (the eighth and ninth blind sets)
        ("Action required: your Vidora account will be suspended in 24 hours",
         "Dear Valued Member,\nWe detected unusual payment activity on your Vidora account. Your account and wallet "
         "balance ($1,482.00) will be SUSPENDED in 24 hours unless you verify your billing information.\n"
         "Verify now: http://vidora-verify.example.net/secure/login"),
        ("", "URGENT: Your Vidora payout is ON HOLD. Verify your bank details within 24h at vidora-verify.example/acc "
             "or lose your earnings"),
        ("", "【抖映】您的收益账户存在异常，请立即验证，否则账户将被冻结，余额无法提现"),
        ("", "【抖映】尊敬的用户，您的账户存在异常提现，账号将于今日冻结。请立即点击 dyx-kefu.example/jx 验证身份解冻。"),
        ("", "Grow your Vidora account FAST! 10k real followers + verified badge, we unban any account, payment after "
             "delivery. Only $49. Reply YES"),
        # thanks for a case that is closed (a takeover thanked for is over)
        ("", "Thanks Ben, got it all sorted, the refund came through this morning. Appreciate the help!"),
        # a press enquiry about hijacked accounts (probe19)
        ("Press enquiry: account hijacking", "Hello, I'm a reporter at Creator Weekly writing a piece on how creators "
         "get their hijacked accounts back and what happens to their earnings. Could your press team comment?"),
        ("", "喂，你好，我就是打电话来说声谢谢的。上次我的账号被盗，还有那个被扣的钱，你们都帮我处理好了，"
             "钱也退回来了，账号也找回了。嗯……没别的事，就是谢谢你们，辛苦了。拜拜。"),
    ],
)
def test_phishing_and_thanks_that_talk_money_are_other_and_not_private(subject: str, body: str, rules: Rules) -> None:
    triage = mail(subject, body, rules) if subject else sms(body, rules)
    assert (triage.category, triage.private) == ("other", False), triage.reasons


@pytest.mark.parametrize(
    "text",
    [
        "建议：钱包页面的收益明细能不能按月分组？现在余额、抖币和结算记录混在一起，看着太乱了",
        "Suggestion: the wallet page is confusing, please show coins and earnings balance on separate tabs",
    ],
)
def test_feedback_about_the_wallet_is_not_private(text: str, rules: Rules) -> None:
    triage = sms(text, rules)
    assert (triage.category, triage.private) == ("feedback", False), triage.reasons
    # ... until it carries a card number
    assert sms(text + " 我的卡 4111 1111 1111 1111", rules).private


@pytest.mark.parametrize(
    "subject, body",
    [
        # probe13: recovering a deleted account, in Traditional Chinese, with 申請恢復 (the words
        # of a content appeal) and 影片 in the text
        ("申請恢復已刪除之帳戶", "抖映客戶服務部：\n\n本人於十一月一日一時衝動刪除了帳戶（用戶名稱 @leewaiyip_hiking），\n"
                                "現得悉帳戶刪除後三十日內仍可申請恢復，故特此來函申請。\n\n帳戶內有本人多年來的行山影片，"
                                "極具紀念價值，懇請協助恢復。\n如需核實身份，請告知所需文件。\n\n此致\n李偉業 謹啟"),
        # probe12: SMS in pinyin initials (mm 密码, yzm 验证码, zh 账号)
        ("", "mm忘了 yzm也收不到 zh绑的手机号也换了 怎么办啊 急"),
        # probe19: account cases without the usual words
        ("Moving on", "Hi there,\n\nI've decided I'm done with Vidora. I'd like everything about me gone from your\n"
                      "service: the profile, my videos, comments, the lot. I don't want it hidden, I\nwant it gone, and "
                      "I'd rather not have it sitting around for months either.\n\nWhat do I need to do on my end? "
                      "The profile is @tomlq.\n\nCheers,\nTom"),
        ("", "喂，那个，呃，我妈那个号啊，她手机丢了，新买了手机，现在进不去了，那个，上面有好多她跳舞的视频，嗯，就是想问一下怎么弄回来"),
    ],
)
def test_deleted_accounts_and_pinyin_shorthand_are_account_and_private(subject: str, body: str, rules: Rules) -> None:
    triage = mail(subject, body, rules) if subject else sms(body, rules)
    assert (triage.category, triage.private) == ("account", True), triage.reasons


@pytest.mark.parametrize(
    "text",
    ["I'm done with Vidora. I'd like everything about me gone: the profile, my videos, comments. I don't want it hidden.",
     "请把我的视频、评论全部删掉，删除我的所有数据，不要只是隐藏",
     "Under GDPR I ask you to erase my data, including all my videos and comments"],
)
def test_an_erasure_request_is_private_whatever_it_names(text: str, rules: Rules) -> None:
    """The videos and comments it names can pull the category to content review; the request
    itself is an account case, so privacy does not wait for the category (signal.erasure)."""
    assert sms(text, rules).private, sms(text, rules).reasons



@pytest.mark.parametrize(
    "text",
    ["The app asks me to verify my age with an ID and the age verification keeps failing",
     "我想改一下帳號綁定的電郵，麻煩幫我改一下",
     # an age check, though the profile "will be removed" and was "flagged" (probe22)
     "How do I confirm my daughter's age? The app says her profile will be removed in 14 days unless her age is confirmed",
     "The app says my son is under 13 and wants proof of age, what document do you accept?",
     "我女儿的账号被判定未满14岁，说不确认年龄就删除，怎么验证年龄？",
     "You took $9.99 twice this month for Plus. Only signed up once. Want one back"],
)
def test_identity_checks_and_the_bound_email_are_account_and_private(text: str, rules: Rules) -> None:
    triage = sms(text, rules)
    want = "payment" if "$" in text else "account"
    assert (triage.category, triage.private) == (want, True), triage.reasons


@pytest.mark.parametrize("text", ["喂，你好，冇乜嘢嘅，就係想讚下你哋個新嘅粵語字幕，好準呀。唔該晒，拜拜",
                                  "我想講聲多謝你哋，個長輩模式啲字大咗，我阿媽而家好開心"])
def test_praise_in_cantonese_is_feedback(text: str, rules: Rules) -> None:
    assert voice(text, rules).category == "feedback", voice(text, rules).reasons


@pytest.mark.parametrize(
    "text",
    [
        "an adult keeps messaging my 13 year old daughter asking her for pictures, please stop him",
        "有个主播在直播说要跳楼，你们快处理",
        "有人天天私信我女儿，她才14岁，还要她发照片",
        # probe24: a missing minor, a police request
        "investigating the disappearance of a 15-year-old girl; we ask for the data today given the risk to life",
        "我女儿14岁，昨晚离家出走，到现在下落不明，她之前一直跟一个网友私信",
        "this is officer Grant calling regarding a missing fifteen year old girl, her last activity was on a Vidora account",
    ],
)
def test_a_minor_at_risk_or_self_harm_is_urgent(text: str, rules: Rules) -> None:
    assert sms(text, rules).priority == "urgent"


def test_a_large_sum_alone_is_high_not_urgent() -> None:
    triage = sms("请开具上月广告费63280元的发票", load_rules(model=False))  # the table alone
    assert (triage.category, triage.priority) == ("payment", "high")


@pytest.mark.parametrize(
    "text, category",
    [
        ("pls add dark mode for the web version", "feedback"),
        ("I'd like to report a video spreading medical misinformation", "content_review"),
        ("人脸识别一直不通过 说不是本人", "account"),
        ("我個號俾人封咗 話我刷量", "account"),
        ("直播打赏收入提不出来", "payment"),
    ],
)
def test_short_messages_of_the_extra_data(text: str, category: str) -> None:
    assert sms(text, load_rules(model=False)).category == category  # the rules alone
