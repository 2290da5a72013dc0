"""Chinese replies as the clients our users have write them: the new text is cut from the
quoted history at each client's reply header (QQ Mail, Foxmail, NetEase 163/126, Outlook
zh-CN and zh-TW, Apple Mail zh-Hans, Gmail zh-CN, mobile signatures)."""

from __future__ import annotations

import pytest

from intake.normalize._reply import cut_reply, strip_reply

NEW = "您好，我的订单 20250212 还没有发货，请帮忙查一下。"

CASES = {
    "qq-original-mail-rule": (
        f"{NEW}\n\n------------------ 原始邮件 ------------------\n"
        "发件人: \"客服\"<support@example.com>;\n发送时间: 2025年2月12日(星期三) 中午12:20\n"
        "收件人: \"张伟\"<zw@qq.com>;\n主题: 回复：订单问题\n\n您的订单已受理。"
    ),
    "qq-original-mail-nbsp-free-short-rule": (
        f"{NEW}\n\n------原始邮件------\n发件人：客服 <support@example.com>\n"
        "发送时间：2025年2月12日 12:20\n收件人：张伟\n主题：订单问题\n\n您的订单已受理。"
    ),
    "qq-mobile-original": (
        f"{NEW}\n\n发自我的iPhone\n\n\n------------------ Original ------------------\n"
        "From: 客服 <support@example.com>\nDate: Wed,Feb 12,2025 12:20 PM\nTo: 张伟 <zw@qq.com>\n"
        "Subject: Re: 订单问题\n\n您的订单已受理。"
    ),
    "foxmail-english-block": (
        f"{NEW}\n\n\nzw@foxmail.com\n \nFrom: 客服\nDate: 2025-02-12 12:20\nTo: 张伟\n"
        "Subject: 订单问题\n您的订单已受理。"
    ),
    "foxmail-chinese-block": (
        f"{NEW}\n\n发件人： 客服\n发送时间： 2025-02-12 12:20\n收件人： 张伟\n主题： 订单问题\n\n您的订单已受理。"
    ),
    "netease-163-wrote": (
        f"{NEW}\n\n在 2025-02-12 12:20:33，\"客服\" <support@example.com> 写道：\n您的订单已受理。"
    ),
    "netease-163-wrote-quoted": (
        f"{NEW}\n\n在 2025-02-12 12:20:33，\"客服\" <support@example.com> 写道：\n> 您的订单已受理。\n> 谢谢"
    ),
    "netease-126-wrote-ascii-colon": (
        f"{NEW}\n\n在 2025-02-12 12:20:33，客服 <support@example.com> 写道:\n>您的订单已受理。"
    ),
    "netease-mobile-signature": (
        f"{NEW}\n\n发自网易邮箱大师\n\n---- 回复的原邮件 ----\n"
        "| 发件人 | 客服<support@example.com> |\n| 日期 | 2025年02月12日 12:20 |\n您的订单已受理。"
    ),
    "outlook-zh-cn": (
        f"{NEW}\n\n________________________________\n发件人: 客服 <support@example.com>\n"
        "发送时间: 2025年2月12日 12:20\n收件人: 张伟 <zw@example.cn>\n主题: 回复: 订单问题\n\n您的订单已受理。"
    ),
    "outlook-zh-cn-blank-after-rule": (
        f"{NEW}\n\n________________________________\n\n发件人: 客服 <support@example.com>\n"
        "时间: 2025年2月12日 12:20\n收件人: 张伟\n主题: 订单问题\n\n您的订单已受理。"
    ),
    "outlook-zh-cn-full-width-colons": (
        f"{NEW}\n\n发件人：客服 [mailto:support@example.com]\n发送时间：2025年2月12日 星期三 12:20\n"
        "收件人：张伟\n抄送：李娜\n主题：答复: 订单问题\n\n您的订单已受理。"
    ),
    "outlook-zh-tw": (
        f"{NEW}\n\n寄件者: 客服 <support@example.com>\n寄件日期: 2025年2月12日 下午 12:20\n"
        "收件者: 張偉\n主旨: 回覆: 訂單問題\n\n您的訂單已受理。"
    ),
    "outlook-zh-tw-sent-time": (
        f"{NEW}\n\n寄件人: 客服 <support@example.com>\n傳送時間: 2025年2月12日 下午 12:20\n"
        "收件者: 張偉\n主旨: 訂單問題\n\n您的訂單已受理。"
    ),
    "apple-mail-zh-hans": (
        f"{NEW}\n\n> 2025年2月12日 12:20，客服 <support@example.com> 写道：\n> \n> 您的订单已受理。\n"
    ),
    "apple-mail-zh-hans-unquoted-header": (
        f"{NEW}\n\n发自我的 iPhone\n\n2025年2月12日 下午12:20，客服 <support@example.com> 写道：\n\n> 您的订单已受理。"
    ),
    "apple-mail-zh-hant": (
        f"{NEW}\n\n2025年2月12日 下午12:20，客服 <support@example.com> 寫道：\n\n> 您的訂單已受理。"
    ),
    "gmail-zh-cn": (
        f"{NEW}\n\n客服 <support@example.com> 于2025年2月12日周三 12:20写道：\n\n> 您的订单已受理。\n>\n"
    ),
    "gmail-zh-cn-wrapped": (
        f"{NEW}\n\n客服 <support@example.com> 于2025年2月12日周三\n12:20写道：\n\n> 您的订单已受理。"
    ),
    "gmail-zh-tw": (
        f"{NEW}\n\n客服 <support@example.com> 於 2025年2月12日 週三 下午12:20寫道：\n\n> 您的訂單已受理。"
    ),
    "thunderbird-zh": (
        f"{NEW}\n\n在 2025/2/12 12:20, 客服 写道:\n> 您的订单已受理。"
    ),
    "signature-separator": (
        f"{NEW}\n\n-- \n张伟\n产品部\n\n在 2025-02-12 12:20，客服 <support@example.com> 写道：\n> 您好"
    ),
    "sent-from-huawei": (
        f"{NEW}\n\n发自我的华为手机"
    ),
    "reply-below-quote": (
        "在 2025-02-12 12:20，客服 <support@example.com> 写道：\n> 请提供订单号。\n> 谢谢\n\n" + NEW
    ),
}


# A "sent from my phone" line above the quote is kept, as talon keeps it (iphone.eml);
# at the very end of a mail it is cut.
KEEPS_SENT_FROM = {
    "qq-mobile-original": "发自我的iPhone",
    "apple-mail-zh-hans-unquoted-header": "发自我的 iPhone",
    "netease-mobile-signature": "发自网易邮箱大师",
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_chinese_reply_header_cut(name: str) -> None:
    expected = NEW + ("\n\n" + KEEPS_SENT_FROM[name] if name in KEEPS_SENT_FROM else "")
    assert strip_reply(CASES[name]) == expected


def test_there_are_twenty_chinese_cases() -> None:
    assert len(CASES) >= 20


def test_chinese_text_without_history_is_kept_whole() -> None:
    text = "您好：\n\n我想问一下发票的事情。\n1. 抬头写错了\n2. 税号少一位\n\n谢谢！"
    assert strip_reply(text) == text
    assert cut_reply(text).cut_chars == 0


def test_chinese_forward_is_kept() -> None:
    text = (
        "请看下面客户的投诉。\n\n---------- 转发的邮件 ---------\n发件人： 王芳 <wf@example.cn>\n"
        "Date: 2025年2月12日周三 12:20\nSubject: 投诉\nTo: <sales@example.com>\n\n你们的产品坏了，要求退款。"
    )
    cut = cut_reply(text)
    assert cut.forwarded and "要求退款" in cut.text and "转发的邮件" in cut.text
