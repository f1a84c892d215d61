// The Box2D side of deepq's LunarLander: builds the world exactly the way
// Gymnasium's lunar_lander.py does through pybox2d (same bodies, fixtures,
// joints, in the same order), and exposes the few calls the environment makes.
// All numbers arrive already rounded to float32 by the Rust side, which
// computes them in double precision like the Python code.

#include <Box2D/Box2D.h>

namespace {

// Gymnasium's ContactDetector: the lander's body touching anything is game
// over; a leg's contact flag is set when one of its contacts begins and
// cleared when one ends (even if another contact of the leg remains).
class ContactDetector : public b2ContactListener {
public:
    b2Body* lander = nullptr;
    b2Body* legs[2] = {nullptr, nullptr};
    bool game_over = false;
    bool leg_contact[2] = {false, false};

    void BeginContact(b2Contact* contact) override {
        b2Body* a = contact->GetFixtureA()->GetBody();
        b2Body* b = contact->GetFixtureB()->GetBody();
        if (lander == a || lander == b) {
            game_over = true;
        }
        for (int i = 0; i < 2; ++i) {
            if (legs[i] == a || legs[i] == b) {
                leg_contact[i] = true;
            }
        }
    }

    void EndContact(b2Contact* contact) override {
        b2Body* a = contact->GetFixtureA()->GetBody();
        b2Body* b = contact->GetFixtureB()->GetBody();
        for (int i = 0; i < 2; ++i) {
            if (legs[i] == a || legs[i] == b) {
                leg_contact[i] = false;
            }
        }
    }
};

}  // namespace

extern "C" {

// Everything reset() builds, in Box2D units.
struct DqLanderSetup {
    float gravity;
    float ground[4];        // the moon's first edge: x1, y1, x2, y2
    float terrain[10][4];   // the ten terrain edges: x1, y1, x2, y2
    float lander_position[2];
    float lander_vertices[6][2];
    float initial_force[2];
    float leg_position[2][2];
    float leg_angle[2];
    float leg_half_size[2];  // SetAsBox(hx, hy)
    float leg_anchor[2][2];  // localAnchorB of each leg's joint
    float leg_reference_angle[2];
    float leg_lower_angle[2];
    float leg_upper_angle[2];
    float leg_motor_speed[2];
    float leg_max_motor_torque;
};

// What the environment reads back after a step.
struct DqLanderReadout {
    float position[2];
    float linear_velocity[2];
    float angle;
    float angular_velocity;
    int awake;
    int game_over;
    int leg_contact[2];
    float leg_position[2][2];
    float leg_angle[2];
};

struct DqLander {
    b2World world;
    ContactDetector detector;
    b2Body* lander;
    b2Body* legs[2];

    explicit DqLander(float gravity) : world(b2Vec2(0.0f, gravity)) {}
};

DqLander* dq_lander_create(const DqLanderSetup* s) {
    DqLander* w = new DqLander(s->gravity);
    w->world.SetAllowSleeping(true);
    w->world.SetContactListener(&w->detector);

    // The moon: a static body with the ground line, then one edge fixture
    // per terrain chunk.
    b2BodyDef moon_def;
    moon_def.type = b2_staticBody;
    b2Body* moon = w->world.CreateBody(&moon_def);
    {
        b2EdgeShape edge;
        edge.Set(b2Vec2(s->ground[0], s->ground[1]), b2Vec2(s->ground[2], s->ground[3]));
        b2FixtureDef fd;
        fd.shape = &edge;
        moon->CreateFixture(&fd);
    }
    for (int i = 0; i < 10; ++i) {
        b2EdgeShape edge;
        edge.Set(b2Vec2(s->terrain[i][0], s->terrain[i][1]),
                 b2Vec2(s->terrain[i][2], s->terrain[i][3]));
        b2FixtureDef fd;
        fd.shape = &edge;
        fd.density = 0.0f;
        fd.friction = 0.1f;
        moon->CreateFixture(&fd);
    }

    // The lander, then the initial random force, then the legs, like reset().
    b2BodyDef lander_def;
    lander_def.type = b2_dynamicBody;
    lander_def.position.Set(s->lander_position[0], s->lander_position[1]);
    lander_def.angle = 0.0f;
    w->lander = w->world.CreateBody(&lander_def);
    {
        b2Vec2 vertices[6];
        for (int i = 0; i < 6; ++i) {
            vertices[i].Set(s->lander_vertices[i][0], s->lander_vertices[i][1]);
        }
        b2PolygonShape poly;
        poly.Set(vertices, 6);
        b2FixtureDef fd;
        fd.shape = &poly;
        fd.density = 5.0f;
        fd.friction = 0.1f;
        fd.filter.categoryBits = 0x0010;
        fd.filter.maskBits = 0x001;
        fd.restitution = 0.0f;
        w->lander->CreateFixture(&fd);
    }
    w->lander->ApplyForceToCenter(b2Vec2(s->initial_force[0], s->initial_force[1]), true);

    for (int i = 0; i < 2; ++i) {
        b2BodyDef leg_def;
        leg_def.type = b2_dynamicBody;
        leg_def.position.Set(s->leg_position[i][0], s->leg_position[i][1]);
        leg_def.angle = s->leg_angle[i];
        b2Body* leg = w->world.CreateBody(&leg_def);
        b2PolygonShape box;
        box.SetAsBox(s->leg_half_size[0], s->leg_half_size[1]);
        b2FixtureDef fd;
        fd.shape = &box;
        fd.density = 1.0f;
        fd.restitution = 0.0f;
        fd.filter.categoryBits = 0x0020;
        fd.filter.maskBits = 0x001;
        leg->CreateFixture(&fd);

        b2RevoluteJointDef rjd;
        rjd.bodyA = w->lander;
        rjd.bodyB = leg;
        rjd.localAnchorA.Set(0.0f, 0.0f);
        rjd.localAnchorB.Set(s->leg_anchor[i][0], s->leg_anchor[i][1]);
        rjd.referenceAngle = s->leg_reference_angle[i];
        rjd.enableMotor = true;
        rjd.enableLimit = true;
        rjd.maxMotorTorque = s->leg_max_motor_torque;
        rjd.motorSpeed = s->leg_motor_speed[i];
        rjd.lowerAngle = s->leg_lower_angle[i];
        rjd.upperAngle = s->leg_upper_angle[i];
        w->world.CreateJoint(&rjd);
        w->legs[i] = leg;
    }

    w->detector.lander = w->lander;
    w->detector.legs[0] = w->legs[0];
    w->detector.legs[1] = w->legs[1];
    return w;
}

void dq_lander_destroy(DqLander* w) {
    delete w;
}

void dq_lander_apply_force_to_center(DqLander* w, float fx, float fy) {
    w->lander->ApplyForceToCenter(b2Vec2(fx, fy), true);
}

void dq_lander_apply_torque(DqLander* w, float torque) {
    w->lander->ApplyTorque(torque, true);
}

void dq_lander_apply_linear_impulse(DqLander* w, float ix, float iy, float px, float py) {
    w->lander->ApplyLinearImpulse(b2Vec2(ix, iy), b2Vec2(px, py), true);
}

void dq_lander_step(DqLander* w, float time_step, int velocity_iterations,
                    int position_iterations) {
    w->world.Step(time_step, velocity_iterations, position_iterations);
}

void dq_lander_read(const DqLander* w, DqLanderReadout* out) {
    const b2Body* l = w->lander;
    out->position[0] = l->GetPosition().x;
    out->position[1] = l->GetPosition().y;
    out->linear_velocity[0] = l->GetLinearVelocity().x;
    out->linear_velocity[1] = l->GetLinearVelocity().y;
    out->angle = l->GetAngle();
    out->angular_velocity = l->GetAngularVelocity();
    out->awake = l->IsAwake() ? 1 : 0;
    out->game_over = w->detector.game_over ? 1 : 0;
    for (int i = 0; i < 2; ++i) {
        out->leg_contact[i] = w->detector.leg_contact[i] ? 1 : 0;
        out->leg_position[i][0] = w->legs[i]->GetPosition().x;
        out->leg_position[i][1] = w->legs[i]->GetPosition().y;
        out->leg_angle[i] = w->legs[i]->GetAngle();
    }
}

}  // extern "C"
