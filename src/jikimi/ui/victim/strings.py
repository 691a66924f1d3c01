"""The victim page's words, in Korean and English, and how a language is chosen.

One dictionary per language with the same keys (a test checks they match), so a
page never shows a key or a mix of languages. Korean comes first because the
people this page is first written for are Korean teenagers; English is the
fallback for any other browser language.
"""

from __future__ import annotations

from typing import Final

LANGUAGES: Final = ("ko", "en")
FALLBACK: Final = "en"

STRINGS: Final[dict[str, dict[str, str]]] = {
    "en": {
        "lang_name": "English",
        "site": "jikimi: help removing your images",
        "skip": "Skip to the main content",
        "nav_report": "Report",
        "nav_status": "My case",
        "nav_privacy": "What is sent and kept",
        "report_title": "Report images of you that were shared without your consent",
        "report_intro": (
            "Choose the photos or videos. Your phone or computer computes a fingerprint "
            "(a hash) of each one. Only these fingerprints and what you type are sent. "
            "Your photos and videos never leave this device."
        ),
        "not_alone": (
            "You did nothing wrong. You do not need an account, and you can stop at any time."
        ),
        "no_js": (
            "This page needs JavaScript to compute the fingerprints on your device. "
            "Please turn it on, or ask a support worker for help."
        ),
        "unavailable": (
            "Reports cannot be taken on this server yet: it has no support centre set up. "
            "Please contact a support centre directly."
        ),
        "step_files": "1. Choose photos or videos",
        "files_label": "Photos or videos (they stay on this device)",
        "files_hint": (
            "You can choose several at once."
            " Videos get two exact fingerprints only (MD5 and SHA-256)."
        ),
        "step_where": "2. Where did you see them?",
        "places_label": "Links or channel names, one per line (optional)",
        "places_hint": "For example https://example.com/post/123 or @channel_name",
        "item_place": "Where you saw this one (optional)",
        "step_contact": "3. How can a support worker reach you? (optional)",
        "contact_label": "E-mail, phone or messenger ID (optional)",
        "contact_hint": "It is stored encrypted and only a support worker can open it.",
        "submit": "Send the fingerprints",
        "remove": "Remove",
        "hashing": "Computing fingerprints: {done} of {total}",
        "hashed_all": "All fingerprints are ready: {total}",
        "hash_done": "Ready",
        "hash_waiting": "Waiting",
        "hash_working": "Working",
        "hash_failed": "This file could not be read",
        "hash_nopdq": "Only exact fingerprints: this browser cannot open this image format",
        "video_note": "Video: exact fingerprints only (MD5, SHA-256)",
        "need_files": "Choose at least one photo or video first.",
        "wait_hashing": "Please wait until every fingerprint is ready.",
        "sending": "Sending the fingerprints…",
        "send_failed": "Sending failed. Nothing was saved. Please try again.",
        "done_title": "Your report was received",
        "done_number": "Case number",
        "done_pin": "PIN",
        "done_keep": (
            "Write both down or take a screenshot now. You need them to see what happens "
            "with your case. The PIN is shown only once."
        ),
        "done_status": "See my case",
        "sent_summary": "Sent: {count} sets of fingerprints and the text you typed. No images.",
        "status_title": "See what happened with your case",
        "status_intro": "Enter the case number and PIN you got when you sent your report.",
        "number_label": "Case number",
        "pin_label": "PIN",
        "status_submit": "Show my case",
        "status_not_found": (
            "We could not find a case with this number and PIN. Check both and try again."
        ),
        "status_too_many": "Too many tries. Please wait a few minutes and try again.",
        "status_case": "Case {number}",
        "status_state": "Case status",
        "status_found": "Places found",
        "status_notices": "Removal requests sent",
        "status_removed": "Removed",
        "status_items": "Each place",
        "col_where": "Where",
        "col_status": "Status",
        "col_found": "Found",
        "col_notified": "Request sent",
        "col_removed": "Removed",
        "unknown_host": "not known yet",
        "item_pending": "waiting for a support worker",
        "item_notified": "removal requested",
        "item_removed": "removed",
        "item_reappeared": "seen again: a new request is being prepared",
        "item_unreachable": "could not be checked yet",
        "case_open": "open",
        "case_closed": "closed",
        "face_title": "Optional: protect your face",
        "face_intro": (
            "If you want, the support centre can also watch for new uploads that show your "
            "face. For that, photos of your face have to be sent to the centre's server, "
            "unlike everything above. The server makes a face template (a list of numbers) "
            "from them and does not keep the photos. The template is stored encrypted, is "
            "never shown to anyone, and is deleted if you withdraw."
        ),
        "face_sent_warning": (
            "Nothing on this step is sent until you tick the box and press the button. "
            "Then the chosen photos ARE sent (made smaller on your device first)."
        ),
        "face_files_label": "Photos of your face, alone, clearly visible (1 to 3)",
        "face_files_hint": "Choose photos that show only you. They are not sent yet.",
        "face_consent": (
            "I agree that these photos of my face are sent to make a face template for my case."
        ),
        "face_submit": "Send my face photos",
        "face_sending": "Sending your face photos…",
        "face_done": "Your face is now protected ({count} photos used). The photos were not kept.",
        "face_no_face": "We could not find a face in one of the photos. Please choose another.",
        "face_several_faces": (
            "One photo shows more than one face. Please choose a photo of you alone."
        ),
        "face_too_small": "A face is too small in one photo. Please choose a closer photo.",
        "face_too_blurred": "One photo is too blurred. Please choose a sharper photo.",
        "face_failed": "The face photos could not be used. Nothing was kept. Please try again.",
        "privacy_title": "What is sent, what is kept, and for how long",
        "privacy_sent_h": "What this page sends",
        "privacy_sent": (
            "For each photo: a PDQ fingerprint (256 bits that describe what the picture "
            "looks like, from which the picture cannot be rebuilt) and two exact "
            "fingerprints (MD5 and SHA-256). For each video: the two exact fingerprints. "
            "Also the places you typed and, if you want, how to reach you."
        ),
        "privacy_not_sent_h": "What it never sends",
        "privacy_not_sent": (
            "Your photos and videos, their thumbnails, their file names and where they "
            "are on your device. The previews on the page are made by your own device."
        ),
        "privacy_kept_h": "What the support centre keeps",
        "privacy_kept": (
            "A case with a number, your fingerprints, the places, and your contact "
            "details encrypted so that only a support worker can open them. Your PIN is "
            "kept only as a one-way hash. Every change to your case is logged."
        ),
        "privacy_use_h": "What the fingerprints are used for",
        "privacy_use": (
            "Support workers look for copies at the places you named and send each "
            "website a removal request. Confirmed fingerprints can be added to a bank "
            "so that the same images are caught if someone uploads them again."
        ),
        "privacy_face_h": "Face protection (only if you choose it)",
        "privacy_face": (
            "A separate step after your report. Only if you tick its box, photos of your "
            "face are sent, made smaller on your device. The server makes encrypted face "
            "templates and does not keep the photos; your support worker can withdraw them."
        ),
        "privacy_how_long_h": "For how long",
        "privacy_how_long": (
            "Until your case is closed and for as long as the support centre's retention "
            "rules say after that. Ask your support worker to delete your case or your "
            "contact details at any time."
        ),
    },
    "ko": {
        "lang_name": "한국어",
        "site": "지키미: 내 사진·영상 삭제 지원",
        "skip": "본문으로 건너뛰기",
        "nav_report": "신고하기",
        "nav_status": "내 사건 보기",
        "nav_privacy": "보내는 정보와 보관 기간",
        "report_title": "동의 없이 퍼진 내 사진·영상 신고하기",
        "report_intro": (
            "사진이나 영상을 고르세요. 휴대폰이나 컴퓨터가 각 파일의 지문(해시)을 직접 "
            "계산합니다. 보내는 것은 이 지문과 직접 적은 내용뿐입니다. "
            "사진과 영상은 이 기기 밖으로 나가지 않습니다."
        ),
        "not_alone": "당신의 잘못이 아닙니다. 계정이 필요 없고, 언제든 그만둘 수 있어요.",
        "no_js": (
            "이 페이지는 기기에서 지문을 계산하기 위해 자바스크립트가 필요합니다. "
            "자바스크립트를 켜거나 상담원에게 도움을 요청하세요."
        ),
        "unavailable": (
            "이 서버에는 아직 지원 기관이 설정되어 있지 않아 신고를 받을 수 없습니다. "
            "지원 기관에 직접 연락해 주세요."
        ),
        "step_files": "1. 사진이나 영상 고르기",
        "files_label": "사진 또는 영상 (이 기기에만 남습니다)",
        "files_hint": (
            "여러 개를 한 번에 고를 수 있어요. "
            "영상은 정확한 지문 두 가지(MD5, SHA-256)만 계산합니다."
        ),
        "step_where": "2. 어디에서 보셨나요?",
        "places_label": "링크나 채널 이름, 한 줄에 하나씩 (선택)",
        "places_hint": "예: https://example.com/post/123 또는 @channel_name",
        "item_place": "이 파일을 본 곳 (선택)",
        "step_contact": "3. 상담원이 어떻게 연락하면 될까요? (선택)",
        "contact_label": "이메일, 전화번호 또는 메신저 ID (선택)",
        "contact_hint": "암호화되어 저장되며 상담원만 열어볼 수 있습니다.",
        "submit": "지문 보내기",
        "remove": "빼기",
        "hashing": "지문 계산 중: {total}개 중 {done}개",
        "hashed_all": "모든 지문이 준비되었습니다: {total}개",
        "hash_done": "준비됨",
        "hash_waiting": "대기 중",
        "hash_working": "계산 중",
        "hash_failed": "이 파일을 읽을 수 없습니다",
        "hash_nopdq": "정확한 지문만 계산됨: 이 브라우저가 이 이미지 형식을 열 수 없습니다",
        "video_note": "영상: 정확한 지문만 (MD5, SHA-256)",
        "need_files": "먼저 사진이나 영상을 하나 이상 고르세요.",
        "wait_hashing": "모든 지문이 준비될 때까지 기다려 주세요.",
        "sending": "지문을 보내는 중…",
        "send_failed": "보내지 못했습니다. 아무것도 저장되지 않았어요. 다시 시도해 주세요.",
        "done_title": "신고가 접수되었습니다",
        "done_number": "사건 번호",
        "done_pin": "PIN",
        "done_keep": (
            "지금 두 가지를 적어 두거나 화면을 캡처하세요. 사건 진행 상황을 볼 때 필요합니다. "
            "PIN은 한 번만 보여 드립니다."
        ),
        "done_status": "내 사건 보기",
        "sent_summary": "보낸 것: 지문 {count}세트와 직접 적은 내용. 이미지는 보내지 않았습니다.",
        "status_title": "내 사건 진행 상황 보기",
        "status_intro": "신고할 때 받은 사건 번호와 PIN을 입력하세요.",
        "number_label": "사건 번호",
        "pin_label": "PIN",
        "status_submit": "내 사건 보기",
        "status_not_found": (
            "이 번호와 PIN으로 된 사건을 찾을 수 없습니다. 둘 다 확인하고 다시 시도하세요."
        ),
        "status_too_many": "시도가 너무 많았습니다. 몇 분 뒤에 다시 시도해 주세요.",
        "status_case": "사건 {number}",
        "status_state": "사건 상태",
        "status_found": "찾은 곳",
        "status_notices": "보낸 삭제 요청",
        "status_removed": "삭제됨",
        "status_items": "곳별 상황",
        "col_where": "곳",
        "col_status": "상태",
        "col_found": "발견",
        "col_notified": "요청 보냄",
        "col_removed": "삭제",
        "unknown_host": "아직 모름",
        "item_pending": "상담원 확인 대기 중",
        "item_notified": "삭제 요청함",
        "item_removed": "삭제됨",
        "item_reappeared": "다시 올라옴: 새 요청을 준비하고 있습니다",
        "item_unreachable": "아직 확인하지 못함",
        "case_open": "진행 중",
        "case_closed": "종료",
        "face_title": "선택: 내 얼굴 보호하기",
        "face_intro": (
            "원하면 지원 기관이 당신의 얼굴이 나온 새 게시물도 찾아낼 수 있습니다. 이를 위해서는 "
            "위의 다른 내용과 달리 얼굴 사진을 기관의 서버로 보내야 합니다. 서버는 사진으로 "
            "얼굴 템플릿(숫자 목록)을 만들고 사진은 보관하지 않습니다. 템플릿은 암호화되어 "
            "저장되고, 누구에게도 보여 주지 않으며, 철회하면 삭제됩니다."
        ),
        "face_sent_warning": (
            "상자에 체크하고 버튼을 누르기 전에는 이 단계에서 아무것도 보내지 않습니다. "
            "그때 고른 사진이 전송됩니다 (먼저 기기에서 크기를 줄입니다)."
        ),
        "face_files_label": "얼굴이 잘 보이는 혼자 찍힌 사진 (1~3장)",
        "face_files_hint": "당신만 나온 사진을 고르세요. 아직 보내지 않습니다.",
        "face_consent": (
            "내 사건을 위한 얼굴 템플릿을 만들도록 이 얼굴 사진을 보내는 데 동의합니다."
        ),
        "face_submit": "얼굴 사진 보내기",
        "face_sending": "얼굴 사진을 보내는 중…",
        "face_done": "이제 얼굴이 보호됩니다 (사진 {count}장 사용). 사진은 보관하지 않았습니다.",
        "face_no_face": "사진 중 하나에서 얼굴을 찾지 못했습니다. 다른 사진을 골라 주세요.",
        "face_several_faces": "한 사진에 여러 얼굴이 있습니다. 혼자 나온 사진을 골라 주세요.",
        "face_too_small": "사진 중 하나의 얼굴이 너무 작습니다. 더 가까이 찍은 사진을 골라 주세요.",
        "face_too_blurred": "사진 중 하나가 너무 흐립니다. 더 선명한 사진을 골라 주세요.",
        "face_failed": (
            "얼굴 사진을 사용할 수 없었습니다. 아무것도 보관하지 않았습니다. 다시 시도해 주세요."
        ),
        "privacy_title": "보내는 정보, 보관하는 정보, 보관 기간",
        "privacy_sent_h": "이 페이지가 보내는 것",
        "privacy_sent": (
            "사진마다: PDQ 지문(사진이 어떻게 생겼는지 나타내는 256비트, 이것으로 사진을 "
            "되살릴 수 없습니다)과 정확한 지문 두 가지(MD5, SHA-256). 영상마다: 정확한 지문 "
            "두 가지. 그리고 직접 적은 장소와, 원하면 연락처."
        ),
        "privacy_not_sent_h": "절대 보내지 않는 것",
        "privacy_not_sent": (
            "사진과 영상, 미리보기, 파일 이름, 기기 안의 위치. 페이지의 미리보기는 "
            "당신의 기기가 직접 만듭니다."
        ),
        "privacy_kept_h": "지원 기관이 보관하는 것",
        "privacy_kept": (
            "사건 번호가 붙은 사건, 지문, 장소, 그리고 상담원만 열 수 있도록 암호화된 연락처. "
            "PIN은 되돌릴 수 없는 해시로만 보관합니다. 사건의 모든 변경은 기록됩니다."
        ),
        "privacy_use_h": "지문을 어디에 쓰나요",
        "privacy_use": (
            "상담원이 알려 주신 곳에서 복사본을 찾고 각 사이트에 삭제 요청을 보냅니다. "
            "확인된 지문은 같은 이미지가 다시 올라오면 잡아낼 수 있도록 목록(뱅크)에 "
            "추가될 수 있습니다."
        ),
        "privacy_face_h": "얼굴 보호 (원할 때만)",
        "privacy_face": (
            "신고 뒤의 별도 단계입니다. 그 상자에 체크할 때만 기기에서 크기를 줄인 얼굴 사진이 "
            "전송됩니다. 서버는 암호화된 얼굴 템플릿을 만들고 사진은 보관하지 않으며, "
            "상담원에게 요청하면 철회할 수 있습니다."
        ),
        "privacy_how_long_h": "얼마나 오래",
        "privacy_how_long": (
            "사건이 종료될 때까지, 그리고 그 뒤로는 지원 기관의 보관 규칙이 정한 기간 동안입니다. "
            "언제든 상담원에게 사건이나 연락처 삭제를 요청할 수 있습니다."
        ),
    },
}


def choose(query: str | None, cookie: str | None, accept_language: str | None) -> str:
    """The page language: an explicit choice (link, then cookie), else the browser's."""
    for explicit in (query, cookie):
        if explicit in LANGUAGES:
            return explicit
    return from_accept_language(accept_language or "")


def from_accept_language(header: str) -> str:
    """The best of :data:`LANGUAGES` for an ``Accept-Language`` header (RFC 9110 weights)."""
    best, best_q = FALLBACK, 0.0
    for position, part in enumerate(header.split(",")):
        tag, _, params = part.strip().partition(";")
        q = 1.0
        if params.strip().startswith("q="):
            try:
                q = float(params.strip()[2:])
            except ValueError:
                continue
        primary = tag.strip().lower().split("-")[0]
        # earlier tags win ties: the small decrement keeps their order
        score = q - position * 1e-6
        if primary in LANGUAGES and score > best_q:
            best, best_q = primary, score
    return best
