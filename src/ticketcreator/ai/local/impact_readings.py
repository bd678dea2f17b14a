"""The readings of a bug report's impact that :mod:`.impact` combines: who is affected,
blocked or with a workaround, money, data lost or exposed, an outage, time pressure, and the
calm cases. Each is a pattern over English text, documented in ``docs/ai.md`` ("How the rules
read impact")."""

from __future__ import annotations

import re


def rx(*parts: str) -> re.Pattern[str]:
    return re.compile("|".join(parts), re.IGNORECASE)


PEOPLE = (
    r"(?:customers?|users?|clients?|employees?|students?|drivers?|guests?|staff|merchants?|"
    r"sellers?|patients?|teachers?|instructors?|members?|people|agents?|shoppers?|buyers?|"
    r"accounts?|workers?|colleagues?|team\s+members?|recipients?|schools?|locations?|"
    r"(?:\w+\s+)?team|office|reps|pickers|packers|doctors|nurses|visitors|attendees|tenants|"
    # any role: parents, residents, receptionists, technicians, operators, trainees
    r"(?!\w*(?:ments|degrees)\b)[a-z]+(?:ers|ors|ents|ists|ians|ees|ants))"
)
THINGS = (
    r"(?:orders?|payments?|invoices?|pages?|requests?|calls?|transactions?|bookings?|"
    r"vehicles?|webhooks?|checkouts?|card\s+payments?|deposits?|emails?|refunds?|entr(?:y|ies)|"
    r"appointments?|records?|projects?|tasks?|courses?|products?|sms)"
)
# Everyone (or a whole organization) is affected.
EVERYONE = rx(
    rf"\ball\s+(?:of\s+)?(?:our\s+|the\s+|my\s+)?(?:\d[\d,.]*\s+)?(?:\w+\s+)?{PEOPLE}",
    rf"\bevery\s+(?:single\s+)?(?:\w+\s+)?(?:{PEOPLE}|{THINGS})",
    r"\b(?:every|all)\s+(?:single\s+|\d+\s+)?(?:of\s+)?(?:our\s+|the\s+|its\s+|their\s+)?"
    r"(?:\d+\s+)?(?!time|day|morning|evening|week|month|night|few|other|now|along|right|"
    r"fine|good|set|the\s+time|done|over|at|in|of)[a-z][\w-]+",
    r"\beveryone\b|\beverybody\b|\bnobody\b|\bno\s+one\b|\bno-one\b|\bnone\s+of\s+(?:our|the|us)\b",
    rf"\ball\s+(?:of\s+)?(?:our|the)\s+(?:\w+\s+)?{THINGS}",
    r"\b(?:at|for|in|from|on|to)\s+(?:all|any)\s+(?:of\s+)?(?:our\s+|the\s+|its\s+)?(?:\w+\s+)?"
    r"(?:entrances|shops|stores|warehouses|sites|locations|branches|events|offices|clinics|"
    r"connected|regions|devices|browsers)\b|\bthousands\s+of\b",
    r"\b(?:whole|entire)\s+(?!(?:day|morning|afternoon|evening|night|week|month|quarter|year|time|"
    r"thing|text|line|word|list|row|column|field|page|screen|image|file|process)\b)[a-z]+",
    # a group as the subject of what fails: "Patients can't book", "our drivers cannot start"
    rf"(?:^|[.!?:;,]\s+|\bour\s+|\b(?:since|from)\s+\S+(?:\s+\S+)?\s+){PEOPLE}\s+(?:can(?:no|')?t|can\s+not|no\s+can|not\s+can|don'?t|do\s+not|"
    r"are\s+(?:unable|not\s+able|(?:being\s+)?(?:charged|billed|debited|shown|sent)))\b",
    # each as the subject or the scope: "Each staff member gets", "for each farm", "rejects each"
    r"(?:^|[.!?]\s+|\b(?:for|at|in|on|from|to|[a-z]+s)\s+)each\s+(?!one\b|time\b|other\b)[a-z]+",
    # none as a quantity: "zero online sales", "no carer's phone rang"
    r"\bzero\s+(?:[a-z]+\s+)?[a-z]+s\b|\bno\s+(?!longer\b|more\b)[a-z]+'s\s+(?:\w+\s+){0,2}?"
    r"(?:rang|came|arrived|worked|\w+ed)\b",
    # reproduced by others: "same for my colleagues"
    r"\bsame\s+for\s+(?:my|our|all|every|the\s+other)\s+\w+",
    # a group reporting it cannot: "clients are telling us they haven't been able to book"
    rf"\b{PEOPLE}\s+(?:[\w']+\s+){{0,6}}?they\s+(?:can(?:no|')?t|can\s+not|(?:have|are)(?:n'?t|\s+not)\s+"
    r"been\s+able|are\s+unable)\b",
    r"\bfor\s+all\s+(?:of\s+)?us\b|\bfor\s+us\s+and\s+our\s+customers\b|\bhundreds\s+of\b",
    r"\b(?:all|any)\s+(?:of\s+)?(?:our|their)\s+\d+\b|\bin\s+all\s+\d+\b",
    # "no parent receives", "no order can be picked", "no e-prescription ... has reached"
    r"\bno\s+(?!longer\b|more\b|way\b|idea\b)[a-z][\w-]*\s+(?:[\w'-]+\s+){0,5}?"
    r"(?:can|could|receives?|gets?|sees?|has\s+(?:reached|arrived|come)|arrives?)\b",
)
# Every item of one named person or of the reporter: one person's scope, not everyone's.
ONE_PERSONS = rx(
    r"\b(?:every|all)\s+(?:\w+\s+){1,2}?(?:of|for)\s+(?:me|mine|him|her|my|his|"
    r"(?:dr|mr|mrs|ms)\b\.?)",
)
# Several people or a large share of them.
MANY = rx(
    r"\bmany\s+(?:of\s+our\s+)?(?:\w+\s+)?" + PEOPLE,
    r"\bseveral\s+(?:of\s+our\s+)?" + PEOPLE + r"|\bseveral\s+of\s+our\b",
    r"\b(?:a\s+(?:third|quarter|fifth|tenth)|half|most|\d+\s*%)\s+of\s+(?:our|the|all)\b",
    # part of the people, sites or devices: "some of our 12 shops", "some Android phones"
    r"\bsome\s+(?:of\s+(?:our|the)\s+)?(?:\d+\s+)?(?:[a-z]+\s+)?(?:(?!orders\b)"
    + PEOPLE
    + r"|shops|stores|"
    r"sites|branches|restaurants|salons|phones|devices|tablets|terminals)\b",
    r"\b(?:\d{2,}|dozens\s+of)\s+(?:\w+\s+)?(?:" + PEOPLE + r"|orders|invoices|bookings)\b",
    r"(?<!than\s)(?<!over\s)\b(?:\d{2,}|\d{1,3}(?:,\d{3})+)\s+(?:[a-z]+\s+)?(?!seconds|minutes|hours|days|weeks|"
    r"months|years|rows|pages|percent|times|characters|degrees|items|euros|dollars|pixels|"
    r"kilometers|miles)[a-z]+s\b",
    r"\ba\s+lot\s+of\s+(?:our\s+)?" + PEOPLE + r"|\bteam\s+of\s+\d+",
    r"\bsome\s+of\s+our\s+customers\b|\bcustomers\s+are\s+complaining\b",
    r"\b(?:several|many|dozens\s+of|lots\s+of|a\s+lot\s+of)\s+(?:of\s+(?:our|the|them)\s+)?"
    r"(?:[a-z][\w-]*\s+)?(?!times|days|hours|minutes|seconds|weeks|months|years|ways|things|"
    r"steps|clicks|attempts|tries|fields|pages|rows)[a-z][\w-]*s\b",
    # a whole part of the customer base: "customers in the north zone"
    r"\b[a-z]+s\s+in\s+(?:the|our)\s+(?:\w+\s+)?(?:zone|region|area|district|branch|city|"
    r"country|building)\b",
)
# The affected person cannot do the thing at all.
BLOCKED = rx(
    r"\b(?:can(?:no|')?t|can\s+not|no\s+can|not\s+can|unable\s+to|not\s+able\s+to|no\s+way\s+to|"
    r"(?:have|has)(?:n'?t|\s+not)\s+been\s+able\s+to|"
    r"impossible\s+to|won'?t\s+let)\b(?!\s+(?:find|figure|see\s+(?:where|how)))",
    r"\b(?:locked\s+out|stuck|blocked|halted|offline|read-only|idle|standing\s+still|"
    r"reject(?:s|ed)?|not\s+accepted)\b|\b(?:spins?|spinning|loads?|loading|hangs?)\s+forever\b",
    r"\b(?:nobody|no\s+one|none\s+of\s+\w+)\b[^.]{0,40}\bcan\b|\bno\s+[a-z][\w-]*\s+can\b",
    r"\bdoes\s+nothing\b|\bnothing\s+happens\b|\bnothing\s+(?:gets?|is\s+being)\b|\bno\s+(?:orders|sales)\b",
    r"\bstopped\s+(?:working|receiving|posting|syncing|writing|refunding|moving)\b",
    r"\b(?:fails?|failing)\s+(?:every\s+time|for\s+every|with)\b|\bevery\s+time\b",
    r"\b(?:have|had)\s+(?:had\s+)?to\s+(?:stop|disable)\b|\bwe'?ve\s+(?:stopped|told)\b",
    r"\bneed(?:s)?\s+(?:access|it|the|them|a\s+fix|this)\b.*\b(?:today|tomorrow|tonight|by)\b",
)
# The reporter says how to get along meanwhile.
WORKAROUND = rx(
    r"(?<!\bno\s)(?<!without\s)(?<!without\sa\s)\bwork-?around\b|\bworks\s+(?:fine|eventually|ok)\b|\bstill\s+(?:works?|readable)\b",
    r"\b(?:refresh(?:ing)?|reloading)\s+(?:the\s+page\s+)?(?:fixes|helps|shows)\b|"
    r"\bafter\s+a\s+refresh\b|\bwhen\s+i\s+refresh\b",
    r"\b(?:manually|by\s+hand|in\s+excel|in\s+a\s+spreadsheet)\b",
    r"\b(?:(?:web|website|chrome|gmail|iphone|ios|desktop|email\s+reminders)\s+(?:still\s+)?"
    r"(?:works?|is\s+fine|shows))\b",
    r"\b(?:the\s+)?(?:others?|rest)\s+(?:sync\s+)?(?:fine|(?:of\s+the\s+app\s+)?is\s+(?:quick|fine))\b",
    r"(?<!other\s)(?<!others\s)\bis\s+fine\b|(?<!others\s)(?<![a-z]s\s)\bare\s+fine\b|\bworks\b\.?$|\bit\s+works\b|\bthe\s+link\s+in\b.*\bworks\b",
    r"\bi\s+(?:use|check|copy|rotate|convert|deny|switch|then)\b|\binstead\s*,?\s+which\b",
    r"\bas\s+a\s+workaround\b|\bcan\s+(?:email|still|reformat|use)\b|\bsmaller\s+\w+\s+are\s+fine\b",
)
MONEY = rx(
    r"\b(?:charged|debited|billed)\s+(?:\w+\s+){0,4}?(?:twice|two|three|\d+|double)\b|\bdouble\s+charg|\bduplicate\s+charges\b",
    r"\brefund(?:ed|s|ing)?\b|\bpayouts?\b|\blosing\s+(?:sales|money|revenue|customers)\b",
    r"\b(?:card|online)\s+payments?\b|\bpayments?\s+(?:fail|declined|could\s+not)",
    r"\b(?:salar(?:y|ies)|payroll)\b.*\b(?:wrong|too\s+low|not\s+be\s+paid)\b|\bnot\s+be\s+paid\b",
    r"\bmoney\b|\bsales\s+day\b|\bno\s+orders\b|\bcan'?t\s+buy\b|\bnobody\s+can\s+buy\b",
    r"\b\d[\d,.]*\s*(?:eur|usd|chf|gbp|k)\b|[€$£]\s?\d",
    # business walking away, amounts wrong, cards refused
    r"\b(?:losing|lost)\s+(?:\w+\s+)?(?:orders|bookings|business|guests|clients|sales|customers)\b|"
    r"\bwalk(?:s|ing)?\s+out\b|\bdeclin(?:es|ed|ing)\b|\bovercharg\w*",
    r"\b(?:paid|pay\s+out)\s+(?:out|nothing|from|per)\b|\btips\b|\bpay\s+full\s+price\b|"
    r"\bdiscount\b[^.]{0,30}\bnot\b|\bleft\s+without\s+(?:paying|buying|ordering)\b|"
    r"\b(?:people|customers|clients|guests|shoppers)\s+(?:\w+\s+){0,5}?and\s+(?:leave|walk\s+away)\b|"
    r"\bcan(?:no|')?t\s+sell\b|\bcannot\s+sell\b|\bzero\s+(?:\w+\s+)?sales\b|"
    r"\bwrong\s+(?:amounts?|prices?|totals?|sums?|rates?)\b|"
    r"\b(?:vat|tax|fees?|prices?|amounts?)\b[^.]{0,30}\btwice\b|\bfor\s+nothing\b",
)
DATA_LOSS = rx(
    r"\b(?:are|were|got|been)\s+(?:all\s+)?(?:gone|deleted|wiped|erased|lost)\b",
    r"\b(?:all|every)\b[^.]{0,60}\b(?:gone|disappear(?:ed)?|vanished|deleted|erased|wiped)\b",
    r"\b(?:disappear(?:ed|s)?|vanished|wiped|erased)\b",
    r"\b(?:lost|losing)\s+(?:all\s+|their\s+|our\s+)?(?:work|data|history|notes|material)\b",
    r"\bdeletes\s+(?:it|them|the|all|every)\b|\bmonths\s+of\b[^.]*\bgone\b|\bdata\s+loss\b",
    r"\b(?:restore|backup)\b|\bhave\s+nothing\b|\bis\s+being\s+lost\b",
    r"\boverwr(?:ite|ote|itten|ites|iting)\b|\bno\s+(?:\w+\s+)?cop(?:y|ies)\b|"
    r"(?<!\bi\s)(?<!\bwe\s)\b(?:deleted|wiped|erased)\s+(?:all|every|our|my|their|\d+)\b",
)
# Someone sees or can take what they must not: other customers' data, secrets, sessions.
EXPOSURE = rx(
    r"\b(?:another|other|a\s+different|someone\s+else'?s?|different)\s+"
    r"(?:\w+\s+)?(?:company|companies|customer|user|restaurant|school|account|person)(?:'s)?\b"
    r"[^.]{0,60}\b(?:invoice|data|bookings?|reservations?|dashboard|payslips?|names?|details)",
    r"\b(?:another|other|a\s+different)\s+[a-z]+'s\b|\bstrangers?\b|\bother\s+people'?s?\b",
    r"\bsomeone\s+else'?s\b|\bwithout\s+(?:any\s+)?(?:logging\s+in|login|a\s+login|"
    r"authentication|password)\b|\banyone\s+(?:who|with)\b[^.]*\blink\b",
    r"\b(?:belong(?:s|ing)?\s+to|of|from)\s+(?:an)?other\s+(?:\w+\s+)?(?:customers?|tenants?|"
    r"compan(?:y|ies)|users?|accounts?|restaurants?|schools?|clinics?|shops?)\b|\bother\s+tenants\b",
    r"\bany(?:one|body|\s+(?:\w+\s+)?(?:user|student|customer|employee|visitor|guest|driver|member|"
    r"patient|person))\s+can\s+(?:see|open|download|read|access|view|join)\b|\bin\s+plain\s+text\b",
    r"\b(?:data|details|information)\s+(?:is\s+|are\s+)?exposed\b|\bexposed\b",
    # data of another party: "balances of other households", "the report of another child"
    r"\b(?:of|from|belonging\s+to)\s+(?:the\s+|a\s+)?(?:an)?(?:other|different)\s+(?!(?:page|tab|browser|device|day|time|"
    r"week|month|version|screen|step|tool|system|app|file|folder|project|board|workspace|"
    r"list|sheet|calendar|provider|format|one|way)s?\b)[a-z]+|\ba\s+neighbou?r'?s\b|"
    r"\bnext\s+door\b",
    r"\bcan\b[^.]{0,60}\b(?:for|of|into|to)\s+any\s+(?:\w+\s+){0,3}?(?:accounts?|users?|"
    r"customers?|profiles?)\b",
    # a person removed, still inside
    r"\b(?:former|removed|deactivated|disabled|offboarded|fired)\b.{0,160}?\b(?:(?:he|she|they)\b"
    r".{0,40}?\bstill\b|still\s+(?:\w+\s+)?(?:logs?|signs?)\s+in|still\s+has\s+access|"
    r"(?:employee|user|staff)\b[^.]*\bstill\b)",
    r"\b(?:deactivated|removed|disabled)\s+(?:his|her|their)\s+account\b.{0,120}?\b(?:him|her|them|he|she|they)\s+\w+ing\b",
    r"\banyone\s+who\b[^.]{0,40}\bcan\s+(?:use|see|open|read|redeem)\b|\bnot\s+theirs\b",
    r"\bleft\s+(?:the\s+company\s+)?on\s+bad\s+terms\b|\bsecret\s+(?:api\s+)?key\b",
    r"\bshould\s+(?:definitely\s+)?not\s+be\s+possible\b|\bprivacy\s+issue\b",
)
SENSITIVE = rx(
    r"\bsensitive\b|\bshould\s+only\s+see\b|\bshould\s+not\s+see\b|\bsalar(?:y|ies)\b[^.]*\bsee\b",
)
# The product, or a core path of it, is unavailable.
OUTAGE = rx(
    r"\b(?:is|are|went|goes|was|been)\s+(?:completely\s+|totally\s+)?(?:down|offline)\b|"
    r"\w*(?:site|store|shop|app|service|api|server|portal|platform)\s+(?:is\s+)?(?:down|offline)\b|"
    r"\boffline\b(?!\s+(?:mode|use|access))|\bdown\s+for\b|\boutage\b",
    r"\b(?:50[0234])\b|\bbad\s+gateway\b|\bservice\s+unavailable\b|\bgateway\s+time-?out\b",
    r"\bnot\s+reachable\b|\bunreachable\b|\bERR_CONNECTION\w*|\bERR_TOO_MANY_REDIRECTS\b|"
    r"\bblank\s+(?:white\s+)?page\b",
    r"\bcrash(?:es|ed)?\b[^.]*\b(?:launch|start|immediately|scan)",
    r"\bout\s+of\s+(?:service|order)\b|\bstatus\s+page\b|\bspinner\s+forever\b|\bredirect\s+loop\b|\bunavailable\b",
    r"\bnot\s+(?:updated|loading)\b[^.]*\b(?:hours?|all|every)\b|\btimes?\s+out\b|\btimeouts?\b",
)
# A change in the product that started at a point in time: the mark of an incident.
ONSET = rx(
    r"\bsince\s+(?:the\s+|this\s+|last\s+|yesterday|today|\d)|\bafter\s+(?:the|your)\s+"
    r"(?:deploy|update|release|upgrade|new\s+version|maintenance)\b",
)
DEADLINE = rx(
    r"\b(?:today|tonight|this\s+(?:afternoon|morning|evening)|tomorrow|by\s+\d|"
    r"before\s+(?:the\s+)?(?:weekend|launch|monday|friday)|due\s+(?!date)(?:on\s+)?\w+|deadline|"
    r"closes?\s+today|closing\s+the\s+month|exams?\s+(?:start|week)|(?:on|by|until)\s+"
    r"(?:monday|tuesday|wednesday|thursday|friday)|this\s+week|next\s+week|6pm|3pm)\b",
)
# The reporter says it can wait.
CALM = rx(
    r"\bminor\b|\bsmall\s+thing\b|\bnot\s+a\s+big\s+(?:deal|problem)\b|\bnot\s+critical\b|"
    r"\bjust\s+(?:letting|an\s+idea|curious|annoying|evaluating|checking)\b",
    r"\bno\s+(?:hurry|rush)\b|\bnot\s+urgent\b|\bwhen(?:ever)?\s+you\s+(?:have|get)\s+(?:a\s+)?(?:time|chance|to\s+it)\b",
)
# A problem that only touches looks and wording.
COSMETIC = rx(
    r"\bin\s+(?:german|french|spanish|italian|dutch|polish|english)\b[^.]{0,40}\b(?:says|reads)\b|"
    r"\btypo\b|\bmisspell\w*|\bcosmetic\b|\btranslat\w*|\bwording\b|\bin\s+english\s+when\b",
    r"\b(?:blurry|pixelated|colou?r|icons?|logo|font|tooltip|plural|footer|splash\s+screen|"
    r"slogan|decimals?|spelling)\b",
)
WISH = rx(
    r"\bwould\s+(?:be\s+)?(?:nice|great|handy|good|helpful|love)\b|\bit'?d\s+be\b|"
    r"\bwe'?d\s+love\b|\bwould\s+help\b|\bit\s+would\s+(?:be|help)\b|\bwould\s+speed\b",
    r"\b(?:please|could\s+you|can\s+you)\s+(?:add|allow|offer|support)\b(?!\s+(?:our|my|me|us|him|"
    r"her|them|the\s+attached|a\s+user)\b)",
    r"\bany\s+(?:plans?|chance)\b|\bdo\s+you\s+plan\b|\bfeature\s+request\b|\bplease\s+allow\b|"
    r"\ban\s+option\s+(?:to|for)\b|\bwould\s+like\s+(?:a|an|to\s+have)\b",
)
QUESTION_START = rx(
    r"^\s*(?:how|what|where|when\s+(?:is|are|do|does|will|can)|which|who|why|"
    r"is\s+(?:there|it)|are\s+(?:you|there)|can\s+(?:i|we|guests|two|doctors)|could\s+i|"
    r"do\s+(?:you|guests|we|i)|does|will)\b|^\s*if\s+i\s+[^,]+,\s*will\b",
    r"\b(?:how\s+(?:do|can|should)\s+(?:i|we)|is\s+there\s+a\s+(?:way|setting)|"
    r"is\s+it\s+(?:possible|allowed)|what\s+is\s+the|which\s+fields|do\s+you\s+(?:have|offer|retry)|"
    r"where\s+(?:can|do)\s+i|what\s+counts)\b",
)
# Asking the support team to do something for the organization.
TASK = rx(
    r"\b(?:please|could\s+you|can\s+you|kindly)\s+(?:\w+\s+)?(?:remove|delete|change|switch|"
    r"cancel|merge|reset|enable|raise|transfer|update|rename|archive|send|make|put|replace|"
    r"export|connect|add|disable)\s+(?:our|my|me|us|the|a|an|all|it|him|her|them|"
    r"[\w.+-]+@)",
    r"\b(?:please|could\s+you|can\s+you)\s+(?:\w+\s+)?(?:remove|delete|merge|archive|rename|"
    r"transfer|reset|cancel|raise)\b",
    r"\bneed\s+(?:admin\s+)?access\s+transferred\b|\bmake\s+me\s+an?\s+admin\b|"
    r"\bplease\s+\w+\s+[\w.+-]+@",
)
DEFECT = rx(
    r"\berror\b|\bfail(?:s|ed|ing|ure)?\b|\bbroken\b|\bdoesn'?t\b|\bdoes\s+not\b|\bdon'?t\b|"
    r"\bdidn'?t\b|\bisn'?t\b|\bnot\s+(?:working|sent|shown|copied|synced|arriving|applied)\b",
    r"\bwrong\b|\bcrash\w*|\bcan(?:no|')t\b(?!\s+(?:find|figure|see\s+(?:where|how)))|\bstuck\b|\bmissing\b|\binstead\s+of\b|"
    r"\b[45]\d\d\b|\bexception\b|\w+Error\b|\bbug\b|\bnever\s+(?:arrives?|came)\b|"
    r"\bstopped\b|\bno\s+longer\b|\bstill\s+(?:shows?|has|in|gets?)\b|\bslow\b|\btimes?\s+out\b|"
    r"\bduplicate|\btwice\b|\b(?:arrives?|comes?|fires?|runs?|sent|goes?\s+out)\s+(?:\w+\s+)?late\b|\bcut\s+off\b|\boverlaps?\b|\bshows?\b[^.]*\binstead\b|"
    r"\bskips?\b|\bgone\b|\bempty\b|\bdisappear|\bwon'?t\b|\bnothing\b|\blocked\b|\bblurry\b|"
    r"\bpixelated\b|\bloops?\b|\bnot\s+possible\b|\bbut\s+the\b|\bdrains?\b",
    r"\boverwr\w+|\bwiped\b|\berased\b|\bdeclin(?:es|ed)\b|\bout\s+of\s+service\b|"
    r"\bnot\s+(?:be\s+)?(?:informed|delivered|received)\b|\bno\s+[a-z][\w-]*\s+(?:[\w'-]+\s+){0,5}?"
    r"(?:receives?|gets?|has\s+(?:reached|arrived))\b",
)
SECURITY_WEAKNESS = rx(
    r"\bpassword\s+rules\b|\brate\s+limit\b.*\b(?:never|add)|\bnot\s+slowed\s+down\b|"
    r"\bsessions?\s+(?:not\s+ended|to\s+end)\b|\bother\s+browser\s+was\s+still\b",
)
# Paths whose failure stops the business: paying, signing in, the product as a whole.
CORE = rx(
    r"\b(?:check\s*out|checkout|pay(?:ment|ments)?|buy|orders?|log\s*ins?|logins?|sign\s*in|"
    r"sso|2fa|booking|deposits?|payroll|payslips|exam|grades?|route|deliver(?:y|ies)|shipped|sell|clock\s+in|boarding|purchases?)\b",
    # the business's own customers kept waiting or sent away
    r"\b(?:waiting|queu(?:e|ing)|standing)\s+(?:at|in)\s+(?:the\s+)?\w+|\bphones?\s+(?:\w+\s+)?"
    r"(?:ringing|does\s+not\s+stop)|\bturn\w*\s+(?:\w+\s+)?away\b|\bcan(?:no|')?t\s+leave\b",
)
