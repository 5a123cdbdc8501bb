//! The languages of the pages and their texts.
//!
//! A page's language comes from the learner's preference, then the visitor's
//! `Accept-Language`, and falls back to English when neither names a language we have.
//! Texts are plain strings; a `{seconds}` placeholder is filled in by the template.

use std::collections::BTreeMap;
use std::sync::LazyLock;

use chrono::{DateTime, Datelike, Utc};
use pok_domain::issuing::parse_accept_language;
use pok_domain::values::LanguageTag;

/// A language the pages are written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Language {
    /// The fallback.
    English,
    /// Spanish.
    Spanish,
}

impl Language {
    /// The first language we have among the learner's preference and the `Accept-Language`
    /// entries (by q-value), by primary subtag (`es-AR` → Spanish); English otherwise.
    pub(crate) fn choose(preference: Option<&str>, accept_language: Option<&str>) -> Self {
        preference
            .and_then(|p| LanguageTag::parse(p).ok())
            .into_iter()
            .chain(
                accept_language
                    .map(parse_accept_language)
                    .unwrap_or_default(),
            )
            .find_map(|tag| Self::of(tag.primary()))
            .unwrap_or(Self::English)
    }

    fn of(primary: &str) -> Option<Self> {
        match primary {
            "en" => Some(Self::English),
            "es" => Some(Self::Spanish),
            _ => None,
        }
    }

    /// The `lang` attribute of the page.
    pub(crate) fn tag(self) -> &'static str {
        match self {
            Self::English => "en",
            Self::Spanish => "es",
        }
    }

    /// Every text of the pages in this language.
    pub(crate) fn texts(self) -> &'static BTreeMap<&'static str, &'static str> {
        match self {
            Self::English => &ENGLISH,
            Self::Spanish => &SPANISH,
        }
    }

    /// The texts as a template value, built once per language: converting the whole table
    /// for every page was a measurable share of rendering one.
    pub(crate) fn texts_value(self) -> minijinja::Value {
        static ENGLISH_VALUE: LazyLock<minijinja::Value> =
            LazyLock::new(|| minijinja::Value::from_serialize(Language::English.texts()));
        static SPANISH_VALUE: LazyLock<minijinja::Value> =
            LazyLock::new(|| minijinja::Value::from_serialize(Language::Spanish.texts()));
        match self {
            Self::English => ENGLISH_VALUE.clone(),
            Self::Spanish => SPANISH_VALUE.clone(),
        }
    }

    /// A date as people write it in this language (`November 25, 2026`, `25 de noviembre de
    /// 2026`), in UTC.
    pub(crate) fn date(self, at: DateTime<Utc>) -> String {
        let month = usize::try_from(at.month0()).unwrap_or_default();
        match self {
            Self::English => format!("{} {}, {}", EN_MONTHS[month % 12], at.day(), at.year()),
            Self::Spanish => format!("{} de {} de {}", at.day(), ES_MONTHS[month % 12], at.year()),
        }
    }
}

const EN_MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];

const ES_MONTHS: [&str; 12] = [
    "enero",
    "febrero",
    "marzo",
    "abril",
    "mayo",
    "junio",
    "julio",
    "agosto",
    "septiembre",
    "octubre",
    "noviembre",
    "diciembre",
];

static ENGLISH: LazyLock<BTreeMap<&'static str, &'static str>> = LazyLock::new(|| {
    BTreeMap::from([
        ("certificate", "Certificate"),
        ("awarded_to", "This certificate was awarded to"),
        ("for_completing", "for successfully completing"),
        ("issued_by", "Issued by"),
        ("issued_on", "Issued on"),
        ("image_alt", "The certificate"),
        ("view", "View and verify"),
        ("download", "Download the image"),
        ("share", "Share"),
        ("share_linkedin", "Add to LinkedIn profile"),
        ("share_x", "Share on X"),
        ("share_facebook", "Share on Facebook"),
        ("share_text", "I earned a certificate:"),
        ("processing_title", "Your certificate is on its way"),
        (
            "processing_body",
            "We are issuing your certificate. This usually takes a few minutes.",
        ),
        (
            "processing_refresh",
            "This page refreshes itself every {seconds} seconds.",
        ),
        ("preview_title", "Certificate preview"),
        (
            "preview_body",
            "This is what the certificate of this course looks like. Yours will carry your name once it is issued.",
        ),
        ("preview_alt", "A preview of the certificate"),
        ("preview_open", "Open the preview"),
        ("revoked_title", "This certificate has been revoked"),
        (
            "revoked_body",
            "Its issuer revoked this certificate; it is no longer valid.",
        ),
        ("delayed_title", "Your certificate is delayed"),
        (
            "delayed_body",
            "Issuing your certificate is taking longer than usual. Our team has been told and is looking into it; please come back later.",
        ),
        (
            "could_not_issue_title",
            "We could not issue this certificate",
        ),
        (
            "could_not_issue_body",
            "Something went wrong while issuing this certificate. Our team has been told.",
        ),
        ("not_found_title", "Certificate not found"),
        (
            "not_found_body",
            "There is no certificate at this address. Please check the link you followed.",
        ),
        ("ours_title", "Something went wrong"),
        (
            "ours_body",
            "We could not show this page right now. Please try again in a few minutes.",
        ),
        ("request_title", "This request could not be served"),
        ("request_body", "Please check the link you followed."),
        ("reference", "Reference"),
        (
            "reference_hint",
            "If you contact support, please quote this reference.",
        ),
    ])
});

static SPANISH: LazyLock<BTreeMap<&'static str, &'static str>> = LazyLock::new(|| {
    BTreeMap::from([
        ("certificate", "Certificado"),
        ("awarded_to", "Este certificado fue otorgado a"),
        ("for_completing", "por completar con éxito"),
        ("issued_by", "Emitido por"),
        ("issued_on", "Emitido el"),
        ("image_alt", "El certificado"),
        ("view", "Ver y verificar"),
        ("download", "Descargar la imagen"),
        ("share", "Compartir"),
        ("share_linkedin", "Agregar al perfil de LinkedIn"),
        ("share_x", "Compartir en X"),
        ("share_facebook", "Compartir en Facebook"),
        ("share_text", "Obtuve un certificado:"),
        ("processing_title", "Tu certificado está en camino"),
        (
            "processing_body",
            "Estamos emitiendo tu certificado. Esto suele tardar unos minutos.",
        ),
        (
            "processing_refresh",
            "Esta página se actualiza sola cada {seconds} segundos.",
        ),
        ("preview_title", "Vista previa del certificado"),
        (
            "preview_body",
            "Así se ve el certificado de este curso. El tuyo llevará tu nombre cuando se emita.",
        ),
        ("preview_alt", "Una vista previa del certificado"),
        ("preview_open", "Abrir la vista previa"),
        ("revoked_title", "Este certificado fue revocado"),
        (
            "revoked_body",
            "Su emisor revocó este certificado; ya no es válido.",
        ),
        ("delayed_title", "Tu certificado está demorado"),
        (
            "delayed_body",
            "La emisión de tu certificado está tardando más de lo habitual. Nuestro equipo ya fue avisado y lo está revisando; vuelve más tarde.",
        ),
        (
            "could_not_issue_title",
            "No pudimos emitir este certificado",
        ),
        (
            "could_not_issue_body",
            "Algo salió mal al emitir este certificado. Nuestro equipo ya fue avisado.",
        ),
        ("not_found_title", "Certificado no encontrado"),
        (
            "not_found_body",
            "No hay ningún certificado en esta dirección. Revisa el enlace que seguiste.",
        ),
        ("ours_title", "Algo salió mal"),
        (
            "ours_body",
            "No pudimos mostrar esta página ahora. Vuelve a intentarlo en unos minutos.",
        ),
        ("request_title", "No se pudo atender esta solicitud"),
        ("request_body", "Revisa el enlace que seguiste."),
        ("reference", "Referencia"),
        (
            "reference_hint",
            "Si contactas a soporte, indica esta referencia.",
        ),
    ])
});

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn every_language_has_every_text() {
        let english: Vec<_> = ENGLISH.keys().collect();
        let spanish: Vec<_> = SPANISH.keys().collect();
        assert_eq!(english, spanish);
    }

    #[test]
    fn the_language_follows_the_preference_then_the_browser_then_english() {
        assert_eq!(Language::choose(Some("es-AR"), None), Language::Spanish);
        assert_eq!(
            Language::choose(Some("es_AR"), Some("en")),
            Language::Spanish
        );
        assert_eq!(
            Language::choose(Some("fr"), Some("fr-FR, es;q=0.8, en;q=0.5")),
            Language::Spanish
        );
        assert_eq!(Language::choose(None, Some("de, *")), Language::English);
        assert_eq!(
            Language::choose(Some("not a tag!"), None),
            Language::English
        );
        assert_eq!(Language::choose(None, None), Language::English);
    }

    #[test]
    fn dates_are_written_per_language() {
        let at = Utc.with_ymd_and_hms(2026, 11, 25, 10, 0, 0).unwrap();
        assert_eq!(Language::English.date(at), "November 25, 2026");
        assert_eq!(Language::Spanish.date(at), "25 de noviembre de 2026");
    }
}
