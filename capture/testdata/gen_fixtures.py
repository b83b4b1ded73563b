#!/usr/bin/env python3
"""Writes the capture/testdata/*.eml fixtures, shaped like the mail real
clients send (header order, boundaries, encodings). Run from this folder:
    python3 gen_fixtures.py
Python's codecs encode the legacy charsets: an implementation independent of
the Go decoders under test. Output is deterministic; the .eml files are
committed, so the tests need no Python."""
import base64, quopri, hashlib, zlib, struct

def crlf(s): return s.replace("\r\n", "\n").replace("\n", "\r\n")
def w(name, text, lf=False):
    data = text if isinstance(text, bytes) else text.encode("utf-8", "surrogateescape")
    if not lf:
        data = data.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
    open(name, "wb").write(data)
def b64(b, width=76):
    s = base64.b64encode(b).decode()
    return "\n".join(s[i:i+width] for i in range(0, len(s), width))
def qp(b): return quopri.encodestring(b).decode("ascii")
def ew(s, cs, enc="B"):
    b = s.encode(cs)
    label = {"iso2022_jp": "ISO-2022-JP", "euc_kr": "ks_c_5601-1987", "gbk": "GB2312"}.get(cs, cs.upper())
    if enc == "B": return "=?%s?B?%s?=" % (label, base64.b64encode(b).decode())
    return "=?%s?Q?%s?=" % (cs, "".join(c if c.isalnum() and ord(c) < 128 else "=%02X" % x for x in b for c in [chr(x)]))

def png(w_=2, h=2):
    raw = b"".join(b"\x00" + b"\xff\x80\x00" * w_ for _ in range(h))
    def chunk(t, d): return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d) & 0xffffffff)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w_, h, 8, 2, 0, 0, 0)) + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")
PNG = png()
PDF = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\n" + bytes(range(256)) * 4 + b"\n%%EOF\n"

# --- Outlook reply with Thread-Index, Thread-Topic and an inline image ---
w("outlook-inline-image.eml", f"""Received: from EXCH01.globex.example (10.1.2.3) by EXCH02.globex.example
 (10.1.2.4) with Microsoft SMTP Server id 15.2.1118.40; Tue, 17 Nov 2026 09:14:03 +0100
From: "Schmidt, Anna" <Anna.Schmidt@Globex.example>
To: Acme Support <support@acme.example>
CC: "Bauer, Jonas" <jonas.bauer@globex.example>
Subject: RE: Dashboard shows wrong totals [#1042]
Thread-Topic: Dashboard shows wrong totals [#1042]
Thread-Index: AdrA1b2cGJ9nE4kLQ0GHWmB6t9yXmAAADf9wAAAZ8KA=
Date: Tue, 17 Nov 2026 08:14:02 +0000
Message-ID: <AM0PR07MB6113A1B2C3D4E5F6A7B8C9D0E1@AM0PR07MB6113.eurprd07.prod.outlook.com>
References: <CAFx1=support-1042@acme.example>
In-Reply-To: <CAFx1=support-1042@acme.example>
Accept-Language: de-DE, en-US
Content-Language: en-US
X-MS-Has-Attach: yes
X-MS-TNEF-Correlator:
Content-Type: multipart/related;
\tboundary="_004_AM0PR07MB6113A1B2C3D4E5F6A7B8C9D0E1AM0PR07MB6113eurp_";
\ttype="multipart/alternative"
MIME-Version: 1.0

--_004_AM0PR07MB6113A1B2C3D4E5F6A7B8C9D0E1AM0PR07MB6113eurp_
Content-Type: multipart/alternative;
\tboundary="_000_AM0PR07MB6113A1B2C3D4E5F6A7B8C9D0E1AM0PR07MB6113eurp_"

--_000_AM0PR07MB6113A1B2C3D4E5F6A7B8C9D0E1AM0PR07MB6113eurp_
Content-Type: text/plain; charset="us-ascii"
Content-Transfer-Encoding: quoted-printable

Hi,

the totals are still wrong after the fix, see the screenshot below:

[cid:image001.png@01DB38C5.2F4E1A80]

Best regards
Anna

--_000_AM0PR07MB6113A1B2C3D4E5F6A7B8C9D0E1AM0PR07MB6113eurp_
Content-Type: text/html; charset="us-ascii"
Content-Transfer-Encoding: quoted-printable

<html xmlns:v=3D"urn:schemas-microsoft-com:vml" xmlns:o=3D"urn:schemas-micr=
osoft-com:office:office"><head><meta http-equiv=3D"Content-Type" content=3D=
"text/html; charset=3Dus-ascii"><style><!-- p.MsoNormal {{margin:0cm;}} --></=
style></head><body lang=3D"EN-US"><div class=3D"WordSection1"><p class=3D"M=
soNormal">Hi,<o:p></o:p></p><p class=3D"MsoNormal">the totals are still wro=
ng after the fix, see the screenshot below:</p><p class=3D"MsoNormal"><img =
width=3D"2" height=3D"2" id=3D"Picture_x0020_1" src=3D"cid:image001.png@01D=
B38C5.2F4E1A80"></p><p class=3D"MsoNormal">Best regards<br>Anna</p></div></=
body></html>

--_000_AM0PR07MB6113A1B2C3D4E5F6A7B8C9D0E1AM0PR07MB6113eurp_--

--_004_AM0PR07MB6113A1B2C3D4E5F6A7B8C9D0E1AM0PR07MB6113eurp_
Content-Type: image/png; name="image001.png"
Content-Description: image001.png
Content-Disposition: inline; filename="image001.png"; size={len(PNG)};
\tcreation-date="Tue, 17 Nov 2026 08:14:02 GMT";
\tmodification-date="Tue, 17 Nov 2026 08:14:02 GMT"
Content-ID: <image001.png@01DB38C5.2F4E1A80>
Content-Transfer-Encoding: base64

{b64(PNG)}

--_004_AM0PR07MB6113A1B2C3D4E5F6A7B8C9D0E1AM0PR07MB6113eurp_--
""")

# --- Outlook reply without In-Reply-To: only Thread-Index ties it ---
w("outlook-threadindex-only.eml", """From: Bill Lumbergh <bill.lumbergh@initech.example>
To: "support@acme.example" <support@acme.example>
Subject: RE: TPS report export fails
Thread-Topic: TPS report export fails
Thread-Index: AQHZ8k3xq1dm0m8bBkSxS4HQ3UQyZ7Av0oTg
Date: Wed, 18 Nov 2026 16:02:11 +0000
Message-ID: <BN8PR11MB3666F00D1234@BN8PR11MB3666.namprd11.prod.outlook.com>
Accept-Language: en-US
Content-Language: en-US
X-MS-Has-Attach:
X-MS-Exchange-Organization-SCL: -1
Content-Type: multipart/alternative;
	boundary="_000_BN8PR11MB3666F00D1234BN8PR11MB3666namp_"
MIME-Version: 1.0

--_000_BN8PR11MB3666F00D1234BN8PR11MB3666namp_
Content-Type: text/plain; charset="Windows-1252"
Content-Transfer-Encoding: quoted-printable

Yeah, I=92m going to need that export working by Friday.

From: Acme Support <support@acme.example>
Sent: Wednesday, November 18, 2026 3:40 PM
Subject: TPS report export fails

--_000_BN8PR11MB3666F00D1234BN8PR11MB3666namp_
Content-Type: text/html; charset="Windows-1252"
Content-Transfer-Encoding: quoted-printable

<html><body><p>Yeah, I=92m going to need that export working by Friday.</p=
></body></html>

--_000_BN8PR11MB3666F00D1234BN8PR11MB3666namp_--
""")

# --- Apple Mail reply that rewrote References (kept only the last ids) ---
w("applemail-reply.eml", """Return-Path: <peter.gibbons@hooli.example>
From: Peter Gibbons <peter.gibbons@hooli.example>
Content-Type: text/plain;
	charset=us-ascii
Content-Transfer-Encoding: quoted-printable
Mime-Version: 1.0 (Mac OS X Mail 16.0 \\(3774.600.62\\))
Subject: Re: [#1051] SSO login loop
Date: Thu, 19 Nov 2026 10:31:45 -0800
References: <ticket-1051-reply-2@acme.example>
 <ticket-1051-reply-3@acme.example>
To: Acme Support <support@acme.example>
In-Reply-To: <ticket-1051-reply-3@acme.example>
Message-Id: <6F1C2B3A-9D8E-4F7A-B1C2-3D4E5F607182@hooli.example>
X-Mailer: Apple Mail (2.3774.600.62)

Still looping after clearing cookies. It=E2=80=99s Safari 18 on macOS.

> On 19 Nov 2026, at 09:12, Acme Support <support@acme.example> wrote:
>=20
> Could you clear your cookies and try again?

""")

# --- Gmail reply: multipart/alternative, In-Reply-To + References ---
w("gmail-reply.eml", """MIME-Version: 1.0
References: <ticket-1060@acme.example> <ticket-1060-reply-1@acme.example>
In-Reply-To: <ticket-1060-reply-1@acme.example>
From: =?UTF-8?Q?Jos=C3=A9_Mart=C3=ADnez?= <jose.martinez.1987@example.com>
Date: Fri, 20 Nov 2026 11:05:09 +0100
Message-ID: <CAKz8pQm4sX0m+Y7kH2y=vN1bJc5sA-0gQ8Wk@mail.gmail.com>
Subject: Re: [#1060] Invoice address change
To: Acme Support <support@acme.example>
Content-Type: multipart/alternative; boundary="0000000000004f1d2a0621f0c9a3"

--0000000000004f1d2a0621f0c9a3
Content-Type: text/plain; charset="UTF-8"
Content-Transfer-Encoding: quoted-printable

Gracias! The new address is Calle Mayor 5, 28013 Madrid.

On Thu, Nov 19, 2026 at 4:20=E2=80=AFPM Acme Support <support@acme.example>=
 wrote:

> Please send us the new invoice address.
>

--0000000000004f1d2a0621f0c9a3
Content-Type: text/html; charset="UTF-8"
Content-Transfer-Encoding: quoted-printable

<div dir=3D"ltr">Gracias! The new address is Calle Mayor 5, 28013 Madrid.</=
div><br><div class=3D"gmail_quote"><div dir=3D"ltr" class=3D"gmail_attr">On=
 Thu, Nov 19, 2026 at 4:20=E2=80=AFPM Acme Support &lt;<a href=3D"mailto:su=
pport@acme.example">support@acme.example</a>&gt; wrote:<br></div><blockquot=
e class=3D"gmail_quote" style=3D"margin:0px 0px 0px 0.8ex">Please send us t=
he new invoice address.</blockquote></div>

--0000000000004f1d2a0621f0c9a3--
""")

# --- Thunderbird plain text, format=flowed ---
w("thunderbird-flowed.eml", """Message-ID: <3b1f5c2e-8a7d-4c1b-9e2f-0a1b2c3d4e5f@umbrella.example>
Date: Sat, 21 Nov 2026 14:22:10 +0100
MIME-Version: 1.0
User-Agent: Mozilla Thunderbird
Content-Language: en-US
To: support@acme.example
From: Alice Abernathy <alice@umbrella.example>
Subject: API rate limit question
Content-Type: text/plain; charset=UTF-8; format=flowed
Content-Transfer-Encoding: 8bit

Hello,

we keep hitting the API rate limit of 100 requests per minute when we 
sync our inventory overnight. Can the limit be raised for our account?

Thanks,
Alice

-- 
Alice Abernathy · Umbrella Corp
""")

ORIG = """Return-Path: <support@acme.example>
Message-ID: <ticket-1070-reply-1@acme.example>
Date: Sun, 22 Nov 2026 09:00:00 +0000
From: Acme Support <support@acme.example>
To: nobody@initech.example
Subject: Re: [#1070] Your account
Content-Type: text/plain; charset=utf-8

Hello, your account is ready.
"""
# --- Postfix bounce: multipart/report with the original as message/rfc822 ---
w("bounce-postfix.eml", f"""Return-Path: <>
Delivered-To: support@acme.example
Date: Sun, 22 Nov 2026 09:00:05 +0000 (UTC)
From: MAILER-DAEMON@mail.acme.example (Mail Delivery System)
Subject: Undelivered Mail Returned to Sender
To: support@acme.example
Auto-Submitted: auto-replied
MIME-Version: 1.0
Content-Type: multipart/report; report-type=delivery-status;
	boundary="4F2A61C0B3.1763802005/mail.acme.example"
Message-Id: <20261122090005.4F2A61C0B3@mail.acme.example>

This is a MIME-encapsulated message.

--4F2A61C0B3.1763802005/mail.acme.example
Content-Description: Notification
Content-Type: text/plain; charset=us-ascii

This is the mail system at host mail.acme.example.

I'm sorry to have to inform you that your message could not
be delivered to one or more recipients.

<nobody@initech.example>: host mx.initech.example[192.0.2.10] said: 550 5.1.1
    <nobody@initech.example>: Recipient address rejected: User unknown

--4F2A61C0B3.1763802005/mail.acme.example
Content-Description: Delivery report
Content-Type: message/delivery-status

Reporting-MTA: dns; mail.acme.example
X-Postfix-Queue-ID: 4F2A61C0B3
Arrival-Date: Sun, 22 Nov 2026 09:00:00 +0000 (UTC)

Final-Recipient: rfc822; nobody@initech.example
Action: failed
Status: 5.1.1

--4F2A61C0B3.1763802005/mail.acme.example
Content-Description: Undelivered Message
Content-Type: message/rfc822

{ORIG}
--4F2A61C0B3.1763802005/mail.acme.example--
""")

# --- Exchange NDR: text/rfc822-headers only ---
w("bounce-exchange-ndr.eml", """From: Microsoft Outlook <MicrosoftExchange329e71ec88ae4615bbc36ab6ce41109e@umbrella.example>
To: <support@acme.example>
Date: Mon, 23 Nov 2026 10:11:12 +0000
Content-Type: multipart/report; report-type=delivery-status;
	boundary="b5d1f1a4-6c5e-4a7b-8a43-000000000001"
X-MS-Exchange-Message-Is-Ndr:
Content-Language: en-US
Message-ID: <7a1e5b2c-0d3f-4e5a-9b8c-000000000001@umbrella.example>
In-Reply-To: <ticket-1071-reply-1@acme.example>
References: <ticket-1071-reply-1@acme.example>
Subject: Undeliverable: Re: [#1071] Password reset
Auto-Submitted: auto-replied
MIME-Version: 1.0

--b5d1f1a4-6c5e-4a7b-8a43-000000000001
Content-Type: multipart/alternative; differences=Content-Type;
	boundary="6e2cd1a8-3a4c-4b8e-9a66-000000000002"

--6e2cd1a8-3a4c-4b8e-9a66-000000000002
Content-Type: text/plain; charset="us-ascii"
Content-Transfer-Encoding: quoted-printable

Your message to j.valentine@umbrella.example couldn't be delivered.
j.valentine wasn't found at umbrella.example.

--6e2cd1a8-3a4c-4b8e-9a66-000000000002
Content-Type: text/html; charset="us-ascii"
Content-Transfer-Encoding: quoted-printable

<html><body><p>Your message to <a href=3D"mailto:j.valentine@umbrella.examp=
le">j.valentine@umbrella.example</a> couldn't be delivered.</p></body></htm=
l>

--6e2cd1a8-3a4c-4b8e-9a66-000000000002--

--b5d1f1a4-6c5e-4a7b-8a43-000000000001
Content-Type: message/delivery-status

Reporting-MTA: dns;AM6PR04MB1234.eurprd04.prod.outlook.com
Received-From-MTA: dns;mail.acme.example
Arrival-Date: Mon, 23 Nov 2026 10:11:10 +0000

Final-Recipient: rfc822;j.valentine@umbrella.example
Action: failed
Status: 5.1.10
Diagnostic-Code: smtp;550 5.1.10 RESOLVER.ADR.RecipientNotFound; Recipient not found by SMTP address lookup

--b5d1f1a4-6c5e-4a7b-8a43-000000000001
Content-Type: text/rfc822-headers

Return-Path: support@acme.example
From: Acme Support <support@acme.example>
To: <j.valentine@umbrella.example>
Subject: Re: [#1071] Password reset
Date: Mon, 23 Nov 2026 10:11:00 +0000
Message-ID: <ticket-1071-reply-1@acme.example>
MIME-Version: 1.0
Content-Type: text/plain

--b5d1f1a4-6c5e-4a7b-8a43-000000000001--
""")

# --- RFC 3834 out-of-office ---
w("ooo-autoreply.eml", """Return-Path: <m.smith@hooli.example>
Date: Tue, 24 Nov 2026 07:30:00 -0500
From: Morgan Smith <m.smith@hooli.example>
To: support@acme.example
Subject: Out of office: Re: [#1080] Upgrade scheduled
Auto-Submitted: auto-replied
Precedence: auto_reply
X-Autoreply: yes
In-Reply-To: <ticket-1080-reply-1@acme.example>
Message-ID: <ooo-20261124073000@hooli.example>
MIME-Version: 1.0
Content-Type: text/plain; charset=utf-8

I am out of the office until 1 December with limited access to email.
""")

# --- Exchange OOF ---
w("exchange-oof.eml", """From: "Lumbergh, Bill" <bill.lumbergh@initech.example>
To: Acme Support <support@acme.example>
Subject: Automatic reply: [#1081] Maintenance window
Thread-Topic: [#1081] Maintenance window
Thread-Index: AQHZ9a1b2c3d4e5f6a7b8c9d0e1f2a3b4c5d6e7f8
Date: Tue, 24 Nov 2026 13:00:01 +0000
Message-ID: <6c8e4e2f0a1b4d5e9f8a7b6c5d4e3f2a@initech.example>
In-Reply-To: <ticket-1081-reply-1@acme.example>
Auto-Submitted: auto-generated
X-Auto-Response-Suppress: All
X-MS-Exchange-Inbox-Rules-Loop: bill.lumbergh@initech.example
Content-Type: text/html; charset="iso-8859-1"
Content-Transfer-Encoding: quoted-printable
MIME-Version: 1.0

<html><head><meta http-equiv=3D"Content-Type" content=3D"text/html; charset=
=3Diso-8859-1"></head><body><p>I&#8217;m on vacation until Monday. Ca va =E0 =
la plage.</p></body></html>
""")

# --- mailing list ---
w("list-mail.eml", """Return-Path: <bounces+newsletter@lists.vendor.example>
From: Vendor News <news@vendor.example>
To: support@acme.example
Subject: [vendor-announce] Release 4.2 is out
Date: Wed, 25 Nov 2026 18:00:00 +0000
Message-ID: <release-4.2@lists.vendor.example>
List-Id: Vendor announcements <vendor-announce.lists.vendor.example>
List-Unsubscribe: <mailto:leave-vendor-announce@lists.vendor.example>, <https://lists.vendor.example/unsub?u=42>
List-Unsubscribe-Post: List-Unsubscribe=One-Click
Precedence: list
MIME-Version: 1.0
Content-Type: text/plain; charset=us-ascii

Release 4.2 is out with faster exports.
""")

# --- legacy charsets ---
def legacy(name, cs, label, subject, body, cte, from_name):
    sb = body.encode(cs)
    if cte == "base64": enc = b64(sb)
    elif cte == "quoted-printable": enc = qp(sb)
    else: enc = sb.decode("latin-1")
    w(name, (f"""From: {ew(from_name, cs) if from_name else 'Kunde'} <customer@{name.split('.')[0]}.example>
To: support@acme.example
Subject: {ew(subject, cs)}
Date: Thu, 26 Nov 2026 08:00:00 +0900
Message-ID: <{name}@legacy.example>
MIME-Version: 1.0
Content-Type: text/plain; charset={label}
Content-Transfer-Encoding: {cte}

""" + enc + "\n").encode("latin-1"))
legacy("latin1-qp.eml", "iso-8859-1", "iso-8859-1", "Frage zur Rechnung für März", "Grüße aus München, die Rechnung über 12,50 € ist falsch.".replace("€", "EUR"), "quoted-printable", "Jürgen Müller")
legacy("koi8r.eml", "koi8-r", "koi8-r", "Проблема с оплатой", "Здравствуйте, не проходит оплата картой.", "base64", "Иван Петров")
legacy("iso2022jp.eml", "iso2022_jp", "ISO-2022-JP", "請求書について", "お世話になっております。請求書の件です。", "7bit", "山田太郎")
legacy("shiftjis.eml", "shift_jis", "Shift_JIS", "ログインできません", "パスワードを再設定してもログインできません。", "base64", "佐藤花子")
legacy("gb2312.eml", "gbk", "gb2312", "账户无法登录", "您好，我的账户无法登录，请帮忙。镕", "base64", "王伟")
legacy("big5.eml", "big5", "big5", "訂單查詢", "您好，請問我的訂單何時出貨？", "base64", "陳小明")
legacy("euckr.eml", "euc_kr", "ks_c_5601-1987", "결제 문의", "안녕하세요, 결제가 되지 않습니다.", "base64", "김민수")
# windows-1252 8bit, with header raw 8-bit in the same charset
w("windows-1252.eml", ("""From: =?windows-1252?Q?Fran=E7ois_D=E9sir=E9?= <francois@globex.example>
To: support@acme.example
Subject: =?windows-1252?Q?=93Smart_quotes=94_=96_and_=80_prices?=
Date: 26 Nov 2026 09:15 +0100
Message-ID: <win1252@globex.example>
MIME-Version: 1.0
Content-Type: text/plain; charset=windows-1252
Content-Transfer-Encoding: 8bit

""".encode() + "“Bonjour” – the price is 30 € per seat.\n".encode("cp1252")))

# --- RFC 2231 continuations, encoded-word filename, name= fallback ---
w("rfc2231-filenames.eml", f"""From: Jonas Bauer <jonas.bauer@globex.example>
To: support@acme.example
Subject: Contracts attached
Date: Fri, 27 Nov 2026 10:00:00 +0100
Message-ID: <rfc2231@globex.example>
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary="frontier"

--frontier
Content-Type: text/plain; charset=utf-8

Please find the contracts attached.

--frontier
Content-Type: application/pdf
Content-Disposition: attachment;
 filename*0*=UTF-8''Vertrag%20f%C3%BCr%20Globex%20;
 filename*1*=%E2%80%93%20Nov%202026;
 filename*2=".pdf"
Content-Transfer-Encoding: base64

{b64(PDF)}
--frontier
Content-Type: application/pdf; name="=?UTF-8?B?UmVjaG51bmdfw5xiZXJzaWNodC5wZGY=?="
Content-Disposition: attachment; filename="=?UTF-8?B?UmVjaG51bmdfw5xiZXJzaWNodC5wZGY=?="
Content-Transfer-Encoding: base64

{b64(PDF[:100])}
--frontier
Content-Type: text/csv; name="..\\..\\windows\\report 2026.csv"
Content-Transfer-Encoding: 7bit

id,total
1,42
--frontier
Content-Type: application/octet-stream
Content-Transfer-Encoding: base64

AAECAwQ=
--frontier--
""")

# --- forwarded message as message/rfc822 ---
w("forward-rfc822.eml", f"""From: Anna Schmidt <anna.schmidt@globex.example>
To: support@acme.example
Subject: Fwd: Error report from our monitoring
Date: Sat, 28 Nov 2026 12:00:00 +0100
Message-ID: <fwd-1@globex.example>
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary="outer"

--outer
Content-Type: text/plain; charset=utf-8

See the forwarded alert below.

--outer
Content-Type: message/rfc822
Content-Disposition: inline

From: Monitoring <alerts@globex.example>
To: ops@globex.example
Subject: =?utf-8?Q?ALERT=3A_API_latency_=E2=80=93_p99_>_2s?=
Date: Sat, 28 Nov 2026 11:58:00 +0100
Message-ID: <alert-77@globex.example>
MIME-Version: 1.0
Content-Type: multipart/alternative; boundary="inner"

--inner
Content-Type: text/plain; charset=utf-8

NESTED TEXT: p99 latency above 2s for 10 minutes.
--inner
Content-Type: text/html; charset=utf-8

<p>NESTED HTML</p>
--inner--

--outer--
""")

# --- attachments: PDF-ish bytes, base64; an image without name ---
w("attachments.eml", f"""From: Hooli Billing <billing@hooli.example>
To: support@acme.example
Subject: Purchase order and logo
Date: Sun, 29 Nov 2026 09:00:00 -0800
Message-ID: <po-2026-11@hooli.example>
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary="----=_Part_12345_67890.1764432000000"

------=_Part_12345_67890.1764432000000
Content-Type: text/html; charset=UTF-8
Content-Transfer-Encoding: 7bit

<p>Our purchase order <b>PO-7731</b> is attached.</p>
------=_Part_12345_67890.1764432000000
Content-Type: application/pdf; name=PO-7731.pdf
Content-Transfer-Encoding: base64
Content-Disposition: attachment; filename=PO-7731.pdf

{b64(PDF)}
------=_Part_12345_67890.1764432000000
Content-Type: image/png
Content-Transfer-Encoding: base64

{b64(PNG)}
------=_Part_12345_67890.1764432000000--
""")

# --- broken quoted-printable and base64 ---
w("broken-encodings.eml", f"""From: broken@umbrella.example
To: support@acme.example
Subject: Broken encodings
Date: Mon, 30 Nov 2026 10:00:00 +0000
Message-ID: <broken-enc@umbrella.example>
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary=b1

--b1
Content-Type: text/plain; charset=utf-8
Content-Transfer-Encoding: quoted-printable

Price =3D 10=E2=82=AC, bad escape =ZZ here, lone = sign, soft=
break done.=
--b1
Content-Type: application/pdf; name="cut.pdf"
Content-Transfer-Encoding: base64

{b64(PDF[:64])[:-3]}!!*
--b1--
""")

# --- malformed: header without blank line before the body ---
w("malformed-no-blank-line.eml", """From: sloppy@initech.example
To: support@acme.example
Subject: no separator
Hello, this body starts right after the header.
Second line.
""")
# --- malformed: multipart without boundary parameter ---
w("malformed-missing-boundary.eml", """From: sloppy@initech.example
To: support@acme.example
Subject: missing boundary
MIME-Version: 1.0
Content-Type: multipart/mixed

--XyZzY
Content-Type: text/plain

Body in a multipart whose boundary parameter got lost.
--XyZzY--
""")
# --- malformed: bare LF line endings and an unterminated multipart ---
w("malformed-bare-lf.eml", """From: "Unix Box" <cron@umbrella.example>
To: support@acme.example
Subject: bare LF and truncated
MIME-Version: 1.0
Content-Type: multipart/alternative; boundary="zz"

--zz
Content-Type: text/plain

Line one.
Line two.
--zz
Content-Type: text/html

<p>Line one.</p>
""", lf=True)

# --- hostile HTML ---
w("hostile-html.eml", """From: attacker@evil.example
To: support@acme.example
Subject: Please click
Date: Mon, 30 Nov 2026 12:00:00 +0000
Message-ID: <hostile@evil.example>
MIME-Version: 1.0
Content-Type: text/html; charset=utf-8

<html><head><style>body{background:url(javascript:alert(1))}</style>
<script>alert('xss')</script></head>
<body onload="steal()">
<p style="position:fixed">Hello &amp; welcome</p>
<img src="x" onerror="alert(1)">
<a href="javascript:alert(document.cookie)">click me</a>
<a href="https://good.example/">safe link</a>
<iframe src="https://evil.example/frame"></iframe>
<img src="cid:logo@evil.example">
<form action="https://evil.example"><input name=pw></form>
</body></html>
""")

# --- broken headers: raw UTF-8 (RFC 6532), encoded words without spaces,
#     unknown charset, unquoted comma in a name, undisclosed-recipients,
#     mislabelled us-ascii holding UTF-8, odd date ---
w("broken-headers.eml", """From: Zoë Ångström <Zoe@Umbrella.example>
To: undisclosed-recipients:;
Cc: Doe, John <john.doe@globex.example>, jane@globex.example, bob
Reply-To: Zoë <zoe.reply@umbrella.example>
Subject: Re:=?utf-8?q?F=C3=BCr?==?utf-8?q?_Sie?= =?x-unknown-charset?q?caf=E9?= ok
Date: Tue, 1 Dec 2026 9:05:00 +0100 (CET)
Message-ID: no-brackets-id@umbrella.example
In-Reply-To: <ticket-1090@acme.example> (Acme Support's message of Mon)
References: <a@x.example>
 <ticket-1090@acme.example>
MIME-Version: 1.0
Content-Type: text/plain; charset=us-ascii

Naïve café text in a part labelled us-ascii.
""")
print("ok")
