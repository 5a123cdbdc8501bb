//! `BindingRepository`: round trip of every field, update in place, listing, deletion.

use pok_persistence::domain::binding::{CourseBinding, ParamMapping};
use pok_persistence::domain::ports::BindingRepository;
use pok_persistence::domain::values::{CourseMode, EmissionType, PageId, TemplateId};
use pok_persistence::testing::TestDatabase;

use crate::common::{at, course, t0};

pub async fn bindings_round_trip_update_and_delete(db: &TestDatabase) {
    let bindings: &dyn BindingRepository = db.database();
    assert_eq!(bindings.get(&course(1)).await.unwrap(), None);
    let full = CourseBinding {
        course_key: course(2),
        template_id: TemplateId::parse("tpl-2").unwrap(),
        emission_type: EmissionType::Blockchain,
        page_id: Some(PageId::parse("page-1").unwrap()),
        enabled: false,
        allowed_modes: vec![
            CourseMode::parse("verified").unwrap(),
            CourseMode::parse("professional").unwrap(),
        ],
        params: vec![
            ParamMapping::parse("grade=grade").unwrap(),
            ParamMapping::parse("Hours=literal:40 hours").unwrap(),
            ParamMapping::parse("Signer=signatory:1:title").unwrap(),
        ],
        title_override: Some("Título".into()),
        emitter_override: Some("Org X".into()),
        created_at: t0(),
        updated_at: at(1),
    };
    bindings.upsert(&full).await.unwrap();
    assert_eq!(bindings.get(&course(2)).await.unwrap(), Some(full.clone()));

    let mut plain = CourseBinding::new(course(2), TemplateId::parse("tpl-3").unwrap());
    plain.created_at = t0();
    plain.updated_at = at(2);
    bindings.upsert(&plain).await.unwrap();
    assert_eq!(bindings.get(&course(2)).await.unwrap(), Some(plain.clone()));
    // Upserting the same values again is fine (MySQL reports 0 changed rows for it).
    bindings.upsert(&plain).await.unwrap();

    let mut other = full.clone();
    other.course_key = course(1);
    bindings.upsert(&other).await.unwrap();
    assert_eq!(bindings.list().await.unwrap(), vec![other.clone(), plain]);

    assert!(bindings.delete(&course(2)).await.unwrap());
    assert!(!bindings.delete(&course(2)).await.unwrap());
    assert_eq!(bindings.get(&course(2)).await.unwrap(), None);
    assert_eq!(bindings.list().await.unwrap(), vec![other]);
}
